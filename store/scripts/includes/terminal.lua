--[[
  The job statuses a job ends in (protocol/statuses.ts TERMINAL_STATUSES).
]]
local TERMINAL_STATUSES = '{{TERMINAL_LIST}}'

local function isTerminal(status)
  return string.find(TERMINAL_STATUSES, ',' .. status .. ',', 1, true) ~= nil
end
