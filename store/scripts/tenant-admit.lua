--[[
  Admits one job of a tenant to a model's queue on one server (includes/admission): checks the
  tenant's waiting cap, gives the job its fair-share start tag and counts it as waiting.
  KEYS[1] the tenant's jobs hash (queued, running), KEYS[2] the model's fair clock for this
  class (tenant -> next tag), KEYS[3] the model's BullMQ prioritized zset
  ARGV[1..6] the admission's arguments
  Returns {1, offset} (BullMQ priority = ARGV[3] + offset) or {0, waiting} over the cap.
]]
--- @include "includes/admission"

local adm = admissionArgs(1)
local full = waitingCapReached(KEYS[1], adm)
if full then return {0, full} end
local offset = fairTag(KEYS[2], KEYS[3], adm)
countWaiting(KEYS[1], adm)
return {1, offset}
