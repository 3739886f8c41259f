--[[
  The tenant's half of an admission on a Redis Cluster, where the tenant's keys and the model's
  live in different slots: the waiting cap and the count (includes/admission). tenant-fair-tag
  follows on the model's slot with the same ARGV; the caller gives the count back if it fails.
  KEYS[1] the tenant's jobs hash (queued, running)
  ARGV[1..6] the admission's arguments
  Returns {1, 0}, or {0, waiting} over the cap.
]]
--- @include "includes/admission"

local adm = admissionArgs(1)
local full = waitingCapReached(KEYS[1], adm)
if full then return {0, full} end
countWaiting(KEYS[1], adm)
return {1, 0}
