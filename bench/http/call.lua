-- Calls walked end to end, four events sharing one sessionId: the call arrives (main
-- menu), the caller presses 1, the call's status, the session's summary. Each event has
-- its own eventId; the first pins the session, the summary releases it.
dofile(os.getenv("BENCH_HTTP_DIR") .. "/common.lua")

local n = 0

local call = '{"namespace":"VOICE","eventType":"%s","payload":{"eventId":"ev-%s-%d-%d","callId":"call-%s-%d","sessionId":"session-%s-%d","subAccountId":"8x8_test","callStatus":"%s","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG","callDuration":0,"timestamp":"2026-01-06T10:17:19.375Z"%s}}'
local summary = '{"namespace":"VOICE","eventType":"SESSION_SUMMARY","description":"Summary of a completed call session","version":5,"payload":{"sessionId":"session-%s-%d","subAccountId":"8x8_test","sessionStatus":"COMPLETED","startTime":"2026-01-13T08:26:58Z","endTime":"2026-01-13T08:27:33Z","lastAction":"MAKE_CALL","callCount":1,"details":{"callA":{"callId":"call-%s-%d","callDirection":"INBOUND","callType":"PSTN","initiatedTimestamp":"2026-01-13T08:26:58Z","connectedTimestamp":"2026-01-13T08:27:09Z","disconnectedTimestamp":"2026-01-13T08:27:33Z","source":"+6591178965","destination":"+6568332048","sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG","callStatus":"COMPLETED","callDuration":23}}}}'

function request()
  local t, c, step = tid, math.floor(n / 4), n % 4
  n = n + 1
  local body
  if step == 0 then
    body = string.format(call, "CALL_ACTION", t, c, step, t, c, t, c, "CALL_RECEIVED", "")
  elseif step == 1 then
    body = string.format(call, "CALL_ACTION", t, c, step, t, c, t, c, "ACTION_COMPLETED",
      ',"clientActionId":"main_menu","eventData":{"dtmf":"1"}')
  elseif step == 2 then
    body = string.format(call, "CALL_STATUS", t, c, step, t, c, t, c, "CALL_CONNECTED", "")
  else
    body = string.format(summary, t, c, t, c)
  end
  return wrk.format(nil, nil, nil, body)
end
