-- make bench's mixed helpdesk workload (bench/scenarios/django.py writes users.lua beside the run and points
-- HDMS_MIXED_USERS at it): every connection acts as one of several users, customers on their own
-- tickets, agents and an admin on any; per request, mostly reads (detail, list, comments), some
-- writes (a comment; for staff, a priority change).
local users = dofile(os.getenv("HDMS_MIXED_USERS"))
local priorities = { "low", "normal", "high", "urgent" }
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  me = users[(id % #users) + 1]
  headers = { ["Authorization"] = "Bearer " .. me.token, ["Content-Type"] = "application/json" }
end

function request()
  local ticket = me.tickets[math.random(#me.tickets)]
  local r = math.random()
  if r < 0.50 then
    return wrk.format("GET", "/api/v1/tickets/" .. ticket .. "/", headers)
  elseif r < 0.75 then
    return wrk.format("GET", "/api/v1/tickets/?page_size=25", headers)
  elseif r < 0.85 then
    return wrk.format("GET", "/api/v1/tickets/" .. ticket .. "/comments/", headers)
  elseif r < 0.95 or not me.staff then
    local body = '{"body": "Still happening after a restart (' .. math.random(1000000) .. ')."}'
    return wrk.format("POST", "/api/v1/tickets/" .. ticket .. "/comments/", headers, body)
  else
    local body = '{"priority": "' .. priorities[math.random(#priorities)] .. '"}'
    return wrk.format("PATCH", "/api/v1/tickets/" .. ticket .. "/", headers, body)
  end
end
