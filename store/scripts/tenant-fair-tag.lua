--[[
  The model's half of an admission on a Redis Cluster: the job's fair-share start tag
  (includes/admission), after tenant-admit-cap admitted it on the tenant's slot.
  KEYS[1] the model's fair clock for the job's class, KEYS[2] the model's BullMQ prioritized zset
  ARGV[1..6] the admission's arguments
  Returns {1, offset} (BullMQ priority = ARGV[3] + offset).
]]
--- @include "includes/admission"

return {1, fairTag(KEYS[1], KEYS[2], admissionArgs(1))}
