-- notify-calls.lua: tell you about calls in your own XMPP client.
--
-- An incoming call sends you a chat message from your account's sidecar
-- ("Incoming call from Bob <sip:bob@example.org>"), which your client shows
-- like any message; answer or reject it by replying `answer` or `reject`
-- (the first note after start-up says so), with the ad-hoc commands, or
-- with `tandem ctl answer`. A call that ended before anyone answered it is
-- reported as missed; one answered here and dropped by the caller before
-- it was up, as ended.
--
-- The note waits until the call has rung for `delay` seconds, so a call
-- that another rule refuses at once (reject-when-dnd.lua, which tells you
-- itself) or that the caller drops at once (reported as missed) is not also
-- announced as incoming.
--
-- A call you were in that the other side hung up is reported too, with
-- how long it lasted ("Call with Bob <sip:bob@example.org> ended after 3 min
-- 5 s: they hung up.").
--
-- Configuration, [scripts.notify-calls] in tandem.toml:
--   enabled  = true      -- false switches the rule off
--   incoming = true      -- notify incoming calls
--   missed   = true      -- notify missed calls
--   ended    = true      -- notify calls the other side hung up
--   delay    = 0.3       -- seconds a call rings before the note (0: at once)
--
-- A caller who is one of your contacts is named as on your roster, "Incoming
-- call from Bob (bob@example.org)", only when that is verified: exactly one
-- contact publishes the caller's SIP address (their XMPP reach or vCard) and
-- the call came through your SIP service (the registrar), which checks who
-- calls. A caller that only claims an XMPP address (its Call-Info) is shown
-- as "sip:x@y, who claims to be bob@example.org (unverified)".
--
-- Events:   sip.call.incoming, sip.call.ended
-- Commands: xmpp.notify_user, xmpp.who_is

local cfg = tandem.settings { incoming = true, missed = true, ended = true, delay = 0.3 }
local incoming = cfg.incoming
local missed = cfg.missed
local ended = cfg.ended
local delay = cfg.delay
if delay < 0 or delay > 60 then
  error("[scripts.notify-calls] delay must be from 0 to 60 seconds, not " .. tostring(delay))
end

-- "Bob (bob@example.org)" for a verified contact, else "Bob
-- <sip:bob@example.org>" or just the URI, with any claim marked unverified.
local function caller(ev)
  return tandem.identify(ev, ev.peer or "an unknown caller", ev.display_name)
end

-- Callers of calls still ringing, so "missed" can name them even if the
-- end event carries less.
tandem.state.ringing = tandem.state.ringing or {}
-- Calls not yet announced, cleared when they end before their note is due.
tandem.state.unannounced = tandem.state.unannounced or {}

local function notify(text)
  local ok, err = tandem.try_call("xmpp.notify_user", { text = text })
  if not ok then
    tandem.log.warn("could not notify you: " .. tostring(err))
  end
  return ok
end

-- The first note after start-up says how to answer: "Execute Command" on
-- the bridge contact does not reach the commands in every client (Gajim
-- 1.7 asks its bare JID, which the server answers), a reply in the chat
-- does.
local HINT = " (reply answer or reject; help lists the rest)"

local function announce(call)
  local who = tandem.state.unannounced[call]
  tandem.state.unannounced[call] = nil
  if not who then return end
  local hint = tandem.state.hinted and "" or HINT
  -- Said until a note with it went out.
  if notify("Incoming call from " .. who .. hint) then tandem.state.hinted = true end
end

tandem.on("sip.call.incoming", function(ev)
  -- Kept before asking who it is: the call may end (or be answered) while
  -- the answer comes, and then it is not announced.
  local call = ev.call
  tandem.state.ringing[call] = tandem.party(ev.peer or "an unknown caller", ev.display_name)
  if incoming then tandem.state.unannounced[call] = tandem.state.ringing[call] end
  local who = caller(ev)
  if tandem.state.ringing[call] then tandem.state.ringing[call] = who end
  if tandem.state.unannounced[call] then tandem.state.unannounced[call] = who end
  if not incoming then return end
  if delay == 0 then
    announce(ev.call)
  else
    tandem.after(delay, function() announce(ev.call) end)
  end
end)

-- Calls up now, by call id: who is on the other end.
tandem.state.talking = tandem.state.talking or {}

tandem.on("sip.call.answered", function(ev)
  tandem.state.talking[ev.call] = tandem.state.ringing[ev.call] or ev.peer
  tandem.state.ringing[ev.call] = nil
end)

tandem.on("sip.call.ended", function(ev)
  local talking = tandem.state.talking[ev.call]
  tandem.state.talking[ev.call] = nil
  -- Hung up by the caller while still ringing here can only be a call
  -- answered here whose ACK had not come yet (before an answer a caller
  -- cancels): it was answered, not missed.
  if not talking and ev.reason == "remote_hangup" then
    talking = tandem.state.ringing[ev.call]
    tandem.state.ringing[ev.call] = nil
  end
  if talking and ended and ev.reason == "remote_hangup" then
    notify("Call with " .. talking .. " ended after " .. tandem.duration(ev.duration) .. ": they hung up.")
  end
  local who = tandem.state.ringing[ev.call]
  tandem.state.ringing[ev.call] = nil
  tandem.state.unannounced[ev.call] = nil
  if not who or not missed then return end
  -- Only calls that rang here and were never answered or refused by you.
  if ev.reason == "missed" or ev.reason == "cancelled" then
    notify("Missed call from " .. who)
  end
end)
