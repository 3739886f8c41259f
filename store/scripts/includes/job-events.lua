--[[
  A job's event stream and its announcement on the events bus. Bus messages are
  `<jobId> <streamId> status <status>`, `<jobId> <streamId> <type>`, or for a token of at most
  {{BUS_TOKEN_MAX_BYTES}} bytes `<jobId> <streamId> token <text>` (its reader need not read the stream).
]]

-- Appends a non-status event (token text, load progress) and announces it; returns its stream id.
local function appendJobEvent(stream, maxLen, channel, jobId, eventType, data)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxLen, '*', 'type', eventType, 'data', data)
  local text = ''
  if eventType == 'token' and #data <= {{BUS_TOKEN_MAX_BYTES}} then text = ' ' .. data end
  redis.call('PUBLISH', channel, jobId .. ' ' .. id .. ' ' .. eventType .. text)
  return id
end
