--[[
  Records arrivals in a model's arrivals hash, each as protocol/arrivals.ts nextArrivalRecord
  does, in order. Reads the hash once and writes each touched field once, so a batch costs about
  what one arrival does.
  KEYS[1] the model's arrivals hash
  ARGV[1] rate time constant (ms), ARGV[2] first bucket edge (ms), ARGV[3] bucket count,
  ARGV[4] histogram cap, ARGV[5] ttl (ms), ARGV[6..] arrival times (epoch ms)
  Returns the arrivals recorded.
]]
local tau = tonumber(ARGV[1])
local count = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local f = redis.call('HMGET', KEYS[1], 'last', 'rate', 'hsum')
local last = tonumber(f[1])
local rate = tonumber(f[2]) or 0
local hsum = tonumber(f[3]) or 0
local inc = {}
local function flush()
  for field, d in pairs(inc) do redis.call('HINCRBYFLOAT', KEYS[1], field, d) end
  inc = {}
end
for i = 6, #ARGV do
  local now = tonumber(ARGV[i])
  if last == nil then
    last = now
    rate = 1000 / tau
    hsum = 0
  else
    local gap = now - last
    if gap < 0 then gap = 0 end
    rate = rate * math.exp(-gap / tau) + 1000 / tau
    local edge = tonumber(ARGV[2])
    local bucket = 0
    while bucket < count - 1 and gap >= edge do
      edge = edge * 2
      bucket = bucket + 1
    end
    inc['h' .. bucket] = (inc['h' .. bucket] or 0) + 1
    inc['s' .. bucket] = (inc['s' .. bucket] or 0) + gap
    hsum = hsum + 1
    if hsum > cap then
      flush()
      for j = 0, count - 1 do
        for _, p in ipairs({'h', 's'}) do
          local c = tonumber(redis.call('HGET', KEYS[1], p .. j))
          if c then redis.call('HSET', KEYS[1], p .. j, string.format('%.17g', c / 2)) end
        end
      end
      hsum = hsum / 2
    end
    if now > last then last = now end
  end
end
flush()
redis.call('HSET', KEYS[1], 'last', string.format('%d', last), 'rate', string.format('%.17g', rate), 'hsum', string.format('%.17g', hsum))
redis.call('HINCRBY', KEYS[1], 'n', #ARGV - 5)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return #ARGV - 5
