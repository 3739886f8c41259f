--[[
  BullMQ's private encoding of a prioritized job's score, spelled here once: priority * 2^32 +
  a counter, so that jobs of one priority keep their order.
]]
local PRIORITY_SCALE = 4294967296

-- The lowest score a prioritized job of `priority` can have.
local function priorityScore(priority)
  return priority * PRIORITY_SCALE
end

-- The priority of the prioritized job scored `score`.
local function priorityOfScore(score)
  return math.floor(score / PRIORITY_SCALE)
end
