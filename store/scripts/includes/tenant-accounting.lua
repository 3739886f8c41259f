--[[
  Follows one job's status change into its tenant's waiting and running counts and, once the
  job ends, into usage hashes: the tenant's on the day it ended (kept dayTtlSec), the tenant's
  since the start, and the fleet's since the start. The only place tenant counts change with a
  status, whether inside the job's transition (one server) or as tenant-account on the tenant's
  slot (a Redis Cluster).
  `m`: jobs (the tenant's jobs hash; nil: counts are not moved here), usages (the usage hashes
  to count the end in), dayUsage (the one to keep dayTtlSec; nil: none), from, to (statuses),
  countsWaiting ('0': a batch line, never among the waiting jobs its admission counted),
  startedAt, finishedAt (epoch ms; '' or 0 unknown), promptTokens, completionTokens (integer
  strings), dayTtlSec.
]]
--- @include "includes/terminal"

local function accountStatusChange(m)
  if m.from == m.to then return end
  if m.jobs then
    local waits = m.countsWaiting ~= '0'
    if m.from == 'running' or (m.from == 'queued' and waits) then redis.call('HINCRBY', m.jobs, m.from, -1) end
    if m.to == 'running' or (m.to == 'queued' and waits) then redis.call('HINCRBY', m.jobs, m.to, 1) end
  end
  if not isTerminal(m.to) then return end
  local gpu = 0
  local started = tonumber(m.startedAt or '')
  local finished = tonumber(m.finishedAt)
  if m.from == 'running' and started and finished > 0 and finished > started then gpu = finished - started end
  for _, usage in ipairs(m.usages) do
    redis.call('HINCRBY', usage, 'jobs_' .. m.to, 1)
    if m.promptTokens ~= '0' then redis.call('HINCRBY', usage, 'prompt_tokens', m.promptTokens) end
    if m.completionTokens ~= '0' then redis.call('HINCRBY', usage, 'completion_tokens', m.completionTokens) end
    if gpu > 0 then redis.call('HINCRBY', usage, 'gpu_ms', gpu) end
  end
  if m.dayUsage then redis.call('EXPIRE', m.dayUsage, m.dayTtlSec) end
end
