--[[
  The per-request gate: a token bucket for the request rate, and the daily token budget.
  KEYS[1] the tenant's bucket hash (tokens, ts), KEYS[2] the tenant's usage hash for today
  ARGV[1] now (epoch ms), ARGV[2] requests per second (0: no rate limit), ARGV[3] burst,
  ARGV[4] daily token budget (0: none), ARGV[5] bucket expiry in ms,
  ARGV[6] '1' when this request submits work (the token budget applies), ARGV[7] ms to the next UTC day
  Returns {allowed 1|0, refused limit 0 none|1 requests|2 tokens, remaining requests (-1: no
  rate limit), ms until the bucket is full, retry after ms, tokens used today}.
  A refused request takes nothing from the bucket.
]]
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local used = 0
if budget > 0 then
  local u = redis.call('HMGET', KEYS[2], 'prompt_tokens', 'completion_tokens')
  used = (tonumber(u[1]) or 0) + (tonumber(u[2]) or 0)
end
if rate <= 0 then
  if ARGV[6] == '1' and budget > 0 and used >= budget then return {0, 2, -1, 0, tonumber(ARGV[7]), used} end
  return {1, 0, -1, 0, 0, used}
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
if ARGV[6] == '1' and budget > 0 and used >= budget then
  return {0, 2, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), tonumber(ARGV[7]), used}
end
if tokens < 1 then
  return {0, 1, 0, math.ceil((burst - tokens) * 1000 / rate), math.ceil((1 - tokens) * 1000 / rate), used}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), 0, used}
