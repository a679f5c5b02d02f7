-- Every request a new call: a fresh eventId and sessionId, so nothing is answered from
-- the duplicate cache and every request pins a new session. The body is the seed's IVR
-- step (main menu, digit 1).
dofile(os.getenv("BENCH_HTTP_DIR") .. "/common.lua")

local n = 0

local template = '{"namespace":"VOICE","eventType":"CALL_ACTION","description":"Action request of a call","payload":{"eventId":"ev-%s-%d","callId":"call-%s-%d","sessionId":"session-%s-%d","subAccountId":"8x8_test","callStatus":"ACTION_COMPLETED","callDirection":"INBOUND","callType":"PSTN","source":"+6591178965","destination":"+6568332048","sourceFormat":"MSISDN","destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG","callDuration":0,"sipCode":200,"timestamp":"2026-01-06T10:17:19.375Z","clientActionId":"main_menu","eventData":{"dtmf":"1"}}}'

function request()
  n = n + 1
  local t = tid
  return wrk.format(nil, nil, nil, string.format(template, t, n, t, n, t, n))
end
