-- on-the-phone.lua: show "On the phone" to your XMPP contacts while a SIP
-- call is up.
--
-- When the first call is answered, the rule remembers your current presence,
-- sets the configured one (default: away, "On the phone"; never Do Not
-- Disturb unless you ask, because DND silences phone notifications) and
-- publishes XEP-0108 user activity talking/on_the_phone. When the last call
-- ends it puts back exactly what was there and clears the activity. If you
-- change your presence in your own client during the call, your change is
-- what comes back.
--
-- Configuration, [scripts.on-the-phone] in tandem.toml:
--   enabled  = true             -- false switches the rule off
--   show     = "away"           -- away | xa | dnd | chat
--   status   = "On the phone"
--   priority = 11               -- optional: priority during calls (unset: keep)
--   activity = true             -- publish XEP-0108 activity
--
-- Events:   sip.call.answered, sip.call.ended, xmpp.own_presence
-- Commands: xmpp.presence, xmpp.set_presence, xmpp.set_activity

local cfg = tandem.config
local SHOWS = { away = true, xa = true, dnd = true, chat = true }

local show = cfg.show or "away"
if not SHOWS[show] then
  error("[scripts.on-the-phone] show must be away, xa, dnd or chat, not " .. tostring(show))
end
local status = cfg.status or "On the phone"
local priority = cfg.priority
if priority ~= nil and (math.type(priority) ~= "integer" or priority < -128 or priority > 127) then
  error("[scripts.on-the-phone] priority must be an integer from -128 to 127")
end
local activity = cfg.activity ~= false

-- Kept across reloads: calls in progress, the presence to restore, and
-- whether ours is the one showing.
local state = tandem.state
state.calls = state.calls or {}

local function calls_up()
  local n = 0
  for _ in pairs(state.calls) do n = n + 1 end
  return n
end

local function start_on_the_phone()
  local current, err = tandem.try_call("xmpp.presence", {})
  if not current then
    -- Without the current presence it could not be restored: change nothing.
    tandem.log.error("cannot read the presence, leaving it alone: " .. tostring(err))
    return
  end
  state.saved = current
  local during = { show = show, status = status, priority = priority or current.priority }
  local ok, set_err = tandem.try_call("xmpp.set_presence", during)
  if not ok then
    tandem.log.error("cannot set the presence: " .. tostring(set_err))
    state.saved = nil
    return
  end
  state.applied = true
  if activity then
    local done, act_err = tandem.try_call("xmpp.set_activity",
      { general = "talking", specific = "on_the_phone", text = status })
    if not done then tandem.log.warn("cannot publish the activity: " .. tostring(act_err)) end
    state.activity = done ~= nil
  end
end

local function end_on_the_phone()
  if state.applied then
    local ok, err = tandem.try_call("xmpp.set_presence", state.saved or {})
    if not ok then tandem.log.error("cannot restore the presence: " .. tostring(err)) end
  end
  if state.activity then
    local ok, err = tandem.try_call("xmpp.set_activity", { general = "" })
    if not ok then tandem.log.warn("cannot clear the activity: " .. tostring(err)) end
  end
  state.saved, state.applied, state.activity = nil, nil, nil
end

tandem.on("sip.call.answered", function(ev)
  local call = ev.call or "?"
  if state.calls[call] then return end
  state.calls[call] = true
  if calls_up() == 1 then start_on_the_phone() end
end)

tandem.on("sip.call.ended", function(ev)
  local call = ev.call or "?"
  if not state.calls[call] then return end -- never answered: not ours
  state.calls[call] = nil
  if calls_up() == 0 then end_on_the_phone() end
end)

-- The user changed their presence in their own client during a call: that
-- is what they want to see afterwards.
tandem.on("xmpp.own_presence", function(ev)
  if state.applied and ev.presence then
    state.saved = {
      show = ev.presence.show,
      status = ev.presence.status,
      priority = state.saved and state.saved.priority,
    }
  end
end)
