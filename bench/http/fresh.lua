-- Every request a new call: a fresh eventId and sessionId, so nothing is answered from
-- the duplicate cache and every request pins a new session. The body is the seed's IVR
-- step (main menu, digit 1).
local thread_id = 0
local n = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

local template = '{"namespace":"VOICE","eventType":"CALL_ACTION","description":"Action request of a call","payload":{"eventId":"ev-%d-%d","callId":"call-%d-%d","sessionId":"session-%d-%d","subAccountId":"8x8_test","callStatus":"ACTION_COMPLETED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z","clientActionId":"main_menu","eventData":{"dtmf":"1"}}}'

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local t = thread_id
  return wrk.format(nil, nil, nil, string.format(template, t, n, t, n, t, n))
end

dofile(os.getenv("BENCH_HTTP_DIR") .. "/report.lua")
