-- on-the-phone.lua: show "On the phone" to your XMPP contacts while a SIP
-- call is up, or a call you make or take in your XMPP client (Conversations,
-- Dino, Gajim: XEP-0353 Jingle Message Initiation, which the sidecar sees
-- as Carbons).
--
-- Your contacts' clients show the presence of your highest-priority
-- resource. During a call the sidecar resource takes that place: it sets
-- the configured presence (default: away, "On the phone"; never Do Not
-- Disturb unless you ask, because DND silences notifications on phones)
-- with a priority one above your own clients', and publishes XEP-0108 user
-- activity talking/on_the_phone. When the last call ends the sidecar puts
-- back exactly its own presence from before (priority -1 by default), so
-- what your contacts see is again your own client's presence, including
-- anything you changed in it during the call. Tandem never touches your
-- clients' presence.
--
-- Messages your contacts send to your bare JID during the call go to the
-- top-priority resource, the sidecar; the server copies them to your
-- clients as Carbons (XEP-0280), which Gajim, Dino and Conversations
-- enable. With none of your clients online the sidecar keeps a negative
-- priority: contacts still see "On the phone", and their messages wait for
-- your client offline. See docs/decisions/0011-on-the-phone-presence.md.
--
-- Configuration, [scripts.on-the-phone] in tandem.toml:
--   enabled  = true             -- false switches the rule off
--   show     = "away"           -- away | xa | dnd | chat
--   status   = "On the phone"
--   priority = "auto"           -- "auto": one above your clients; or a number
--   activity = true             -- publish XEP-0108 activity
--   xmpp_calls = true           -- XMPP calls count too (false: SIP calls only)
--
-- Events:   sip.call.answered, sip.call.ended, xmpp.call.started,
--           xmpp.call.ended, xmpp.own_presence, rule.switched
-- Commands: xmpp.set_presence (its answer says what it replaced), xmpp.set_activity,
--           sip.status (when switched back on)

local cfg = tandem.settings(
  { show = "away", status = "On the phone", priority = "auto", activity = true, xmpp_calls = true },
  { priority = "string|number" }
)
local SHOWS = { away = true, xa = true, dnd = true, chat = true }

local show = cfg.show
if not SHOWS[show] then
  error("[scripts.on-the-phone] show must be away, xa, dnd or chat, not " .. tostring(show))
end
local status = cfg.status
local fixed_priority = cfg.priority
if fixed_priority == "auto" then fixed_priority = nil end
if fixed_priority ~= nil and (math.type(fixed_priority) ~= "integer" or fixed_priority < -128 or fixed_priority > 127) then
  error("[scripts.on-the-phone] priority must be \"auto\" or an integer from -128 to 127")
end
local activity = cfg.activity
local xmpp_calls = cfg.xmpp_calls

-- Kept across reloads: calls in progress, the sidecar presence to restore,
-- what is applied now, and the presence of each of your own clients.
local state = tandem.state
state.calls = state.calls or {}
state.clients = state.clients or {}

local function calls_up()
  local n = 0
  for _ in pairs(state.calls) do n = n + 1 end
  return n
end

-- The priority that puts the sidecar on top: one above your highest client
-- with a non-negative priority (those are the ones bare-JID messages go to);
-- with none, stay negative so messages wait for your client.
local function on_top()
  if fixed_priority then return fixed_priority end
  local top
  for _, presence in pairs(state.clients) do
    local p = presence.priority or 0
    if p >= 0 and (top == nil or p > top) then top = p end
  end
  if top == nil then return -1 end
  return math.min(top + 1, 127)
end

-- Sets the on-the-phone presence; answers what it replaced, or nil.
local function apply()
  local during = { show = show, status = status, priority = on_top() }
  local answer, err = tandem.try_call("xmpp.set_presence", during)
  if not answer then
    tandem.log.error("cannot set the presence: " .. tostring(err))
    return nil
  end
  state.applied = during
  return answer.previous
end

local function start_on_the_phone()
  -- The answer says what the presence was, so it is saved without first
  -- asking (one round trip less before contacts see "On the phone").
  local previous = apply()
  if not state.applied then return end
  if previous == nil then
    tandem.log.warn("the XMPP plugin did not say what the presence was; "
      .. "it will be restored to the sidecar's default")
  end
  state.saved = previous or {}
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

local function call_up(call)
  if state.calls[call] then return end
  state.calls[call] = true
  if calls_up() == 1 then start_on_the_phone() end
end

local function call_down(call)
  if not state.calls[call] then return end -- never answered: not ours
  state.calls[call] = nil
  if calls_up() == 0 then end_on_the_phone() end
end

tandem.on("sip.call.answered", function(ev) call_up(ev.call or "?") end)
tandem.on("sip.call.ended", function(ev) call_down(ev.call or "?") end)

-- XMPP calls are kept apart from SIP calls by a prefix: the two ids come
-- from different places and could be equal.
tandem.on("xmpp.call.started", function(ev)
  if xmpp_calls then call_up("xmpp:" .. tostring(ev.session)) end
end)
tandem.on("xmpp.call.ended", function(ev) call_down("xmpp:" .. tostring(ev.session)) end)

-- Switched off (config, `tandem ctl rules off`, the ad-hoc command) during
-- a call: the end of the call will not be seen, so put the presence back
-- now. Switched on: start from the calls that are up now.
tandem.on("rule.switched", function(ev)
  if not ev.enabled then
    state.calls = {}
    end_on_the_phone()
    return
  end
  local sip = tandem.try_call("sip.status", {})
  for _, call in ipairs(sip and sip.calls or {}) do
    if call.state == "up" or call.state == "held" then state.calls[call.call] = true end
  end
  if calls_up() > 0 and not state.applied then start_on_the_phone() end
end)

-- Your clients come, go and change priority; during a call the sidecar
-- follows so that it stays on top (and nothing else changes).
tandem.on("xmpp.own_presence", function(ev)
  if not ev.jid then return end
  state.clients[ev.jid] = ev.presence -- nil: that client went offline
  if state.applied and state.applied.priority ~= on_top() then
    apply()
  end
end)
