--[[
  The one status compare-and-set, of job records and batch records alike.
]]

-- Whether `current` is one of the comma-separated statuses in `allowed`.
local function statusAllowed(current, allowed)
  for s in string.gmatch(allowed, '([^,]+)') do
    if s == current then return true end
  end
  return false
end
