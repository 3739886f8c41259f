--[[
  Appends a non-status event (token text, load progress) to a job's stream and announces it.
  KEYS[1] job event stream
  ARGV[1] event type, ARGV[2] data, ARGV[3] approximate maximum stream length,
  ARGV[4] events bus channel, ARGV[5] job id
  Returns the stream id.
]]
--- @include "includes/job-events"

return appendJobEvent(KEYS[1], ARGV[3], ARGV[4], ARGV[5], ARGV[1], ARGV[2])
