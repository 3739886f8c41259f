--[[
  A job's status change counted for its tenant apart from the job's transition: on a Redis
  Cluster, where the tenant's keys and the fleet's usage live in other slots than the job's
  (includes/tenant-accounting). Run once on the tenant's slot (its jobs hash and usage hashes)
  and, for an end, once on the fleet usage's slot (usage only).
  KEYS[1] the tenant's jobs hash, or any key of the slot when ARGV[9] is '0'
  KEYS[2..] usage hashes to count an end in; KEYS[2] is kept ARGV[8] seconds when ARGV[8] > 0
  ARGV[1] previous status, ARGV[2] new status, ARGV[3] the record's counts_waiting ('0': a
  batch line), ARGV[4] started at (epoch ms, '' unknown), ARGV[5] finished at (epoch ms, 0
  unknown), ARGV[6] prompt tokens, ARGV[7] completion tokens, ARGV[8] seconds to keep KEYS[2]
  (0: no expiry set), ARGV[9] '1' to move the waiting and running counts in KEYS[1]
  Returns 1.
]]
--- @include "includes/tenant-accounting"

local usages = {}
for i = 2, #KEYS do usages[#usages + 1] = KEYS[i] end
local dayUsage = nil
if tonumber(ARGV[8]) > 0 then dayUsage = KEYS[2] end
local jobs = nil
if ARGV[9] == '1' then jobs = KEYS[1] end
accountStatusChange({
  jobs = jobs, usages = usages, dayUsage = dayUsage,
  from = ARGV[1], to = ARGV[2], countsWaiting = ARGV[3], startedAt = ARGV[4], finishedAt = ARGV[5],
  promptTokens = ARGV[6], completionTokens = ARGV[7], dayTtlSec = ARGV[8],
})
return 1
