-- notify-calls.lua: tell you about calls in your own XMPP client.
--
-- An incoming call sends you a chat message from your account's sidecar
-- ("Incoming call from Bob <sip:bob@example.org>"), which your client shows
-- like any message; answer or reject it with the sidecar's ad-hoc commands
-- or `tandem ctl answer`. A call that ended before anyone answered it is
-- reported as missed.
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
-- Events:   sip.call.incoming, sip.call.ended
-- Commands: xmpp.notify_user

local cfg = tandem.settings { incoming = true, missed = true, ended = true, delay = 0.3 }
local incoming = cfg.incoming
local missed = cfg.missed
local ended = cfg.ended
local delay = cfg.delay
if delay < 0 or delay > 60 then
  error("[scripts.notify-calls] delay must be from 0 to 60 seconds, not " .. tostring(delay))
end

-- "Bob <sip:bob@example.org>", or just the URI without a display name.
local function caller(ev)
  return tandem.party(ev.peer or "an unknown caller", ev.display_name)
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
end

local function announce(call)
  local who = tandem.state.unannounced[call]
  tandem.state.unannounced[call] = nil
  if who then notify("Incoming call from " .. who) end
end

tandem.on("sip.call.incoming", function(ev)
  tandem.state.ringing[ev.call] = caller(ev)
  if not incoming then return end
  tandem.state.unannounced[ev.call] = caller(ev)
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
  if talking and ended and ev.reason == "remote_hangup" then
    notify("Call with " .. talking .. " ended after " .. tandem.duration(ev.duration) .. ": they hung up.")
  end
  local who = tandem.state.ringing[ev.call]
  tandem.state.ringing[ev.call] = nil
  tandem.state.unannounced[ev.call] = nil
  if not who or not missed then return end
  -- Only calls that rang here and were never answered or refused by you.
  if ev.reason == "missed" or ev.reason == "cancelled" or ev.reason == "remote_hangup" then
    notify("Missed call from " .. who)
  end
end)
