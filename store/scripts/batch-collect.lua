--[[
  Records one batch line's result only if the line was still pending, so a line is written once
  even if two runners overlap.
  KEYS[1] pending hash, KEYS[2] output or error list, KEYS[3] batch hash
  ARGV[1] line index, ARGV[2] the line, ARGV[3] counter field, ARGV[4] bytes field
  Returns 1 when written, 0 otherwise.
]]
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('HINCRBY', KEYS[3], ARGV[4], string.len(ARGV[2]) + 1)
return 1
