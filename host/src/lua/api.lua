-- The Lua part of the rules' API (`tandem.call`, `tandem.try_call`, the
-- helpers every rule shares), loaded into each rule's state before the
-- rule itself (script.rs).
local tandem, CALL = ...
local yield, yieldable, error, type, setmetatable = coroutine.yield, coroutine.isyieldable, error, type, setmetatable
local pairs, tostring, sort, concat = pairs, tostring, table.sort, table.concat
local floor = math.floor
local err_mt = { __tostring = function(e) return e.kind .. ": " .. e.message end }
-- Waiting for an answer pauses the handler; Lua cannot pause inside a C
-- function (a string.gsub replacement, a table.sort comparator, a
-- metamethod), where it would only say "attempt to yield across a C-call
-- boundary".
local function can_wait(api, name)
  if not yieldable() then
    error(api .. "(" .. tostring(name) .. ") cannot wait for its answer here (inside a string.gsub"
      .. " replacement, a table.sort comparator or a metamethod): call it from the handler itself", 3)
  end
end
function tandem.try_call(name, args)
  if type(name) ~= "string" then error("tandem.try_call: the command name must be a string", 2) end
  can_wait("tandem.try_call", name)
  local ok, result = yield(CALL, name, args)
  if ok then return result end
  return nil, setmetatable(result, err_mt)
end
-- tandem.settings(defaults [, kinds]): this rule's [scripts.<name>] section
-- with `defaults` filled in. A key the rule does not read, or a value of
-- another type than its default, is an error naming the key: a typo in the
-- config must not leave a rule silently doing something else. `kinds`
-- widens a key's accepted types: { priority = "string|number" }.
function tandem.settings(defaults, kinds)
  if type(defaults) ~= "table" then error("tandem.settings: expects a table of defaults", 2) end
  kinds = kinds or {}
  local section = "[scripts." .. tandem.script .. "] "
  local known = {}
  for key in pairs(defaults) do known[#known + 1] = tostring(key) end
  for key in pairs(kinds) do
    if defaults[key] == nil then known[#known + 1] = tostring(key) end
  end
  sort(known)
  local out = {}
  for key, value in pairs(tandem.config) do
    local default = defaults[key]
    if key == "enabled" then
      -- the host's switch, not the rule's
    elseif default == nil and kinds[key] == nil then
      error(section .. "unknown key `" .. tostring(key) .. "` (this rule reads: " .. concat(known, ", ") .. ")", 2)
    else
      local accepted = kinds[key] or type(default)
      if not ("|" .. accepted .. "|"):find("|" .. type(value) .. "|", 1, true) then
        error(section .. "`" .. key .. "` must be a " .. accepted:gsub("|", " or ") .. ", not a " .. type(value), 2)
      end
      out[key] = value
    end
  end
  for key, default in pairs(defaults) do
    if out[key] == nil then out[key] = default end
  end
  return out
end
function tandem.call(name, args)
  if type(name) ~= "string" then error("tandem.call: the command name must be a string", 2) end
  can_wait("tandem.call", name)
  local ok, result = yield(CALL, name, args)
  if ok then return result end
  error(name .. ": " .. result.kind .. ": " .. result.message, 2)
end
-- tandem.adhoc(commands): serves these ad-hoc commands (XEP-0050), each
-- {node, name, handler, fields?} as xmpp.register_adhoc takes it, once
-- Tandem is ready and again when this rule is reloaded (a reload sees no
-- host.ready). One that cannot be served is logged, not fatal. One with
-- `plugin` (a plugin's id) is served only when that plugin runs (in
-- host.status, not failed): a client lists no command that cannot work.
function tandem.adhoc(commands)
  local function running()
    local ids = {}
    local status = tandem.try_call("host.status", {})
    for _, p in ipairs(status and type(status.plugins) == "table" and status.plugins or {}) do
      if p.failed ~= true then ids[p.id] = true end
    end
    return ids
  end
  local function register()
    local plugins
    for _, command in ipairs(commands) do
      local args, needs = {}, nil
      for k, v in pairs(command) do
        if k == "plugin" then needs = v else args[k] = v end
      end
      if needs then plugins = plugins or running() end
      if not needs or plugins[needs] then
        local ok, err = tandem.try_call("xmpp.register_adhoc", args)
        if not ok then
          tandem.log.warn("ad-hoc command " .. tostring(command.node) .. " not served: " .. tostring(err.message or err))
        end
      end
    end
    tandem.state.registered = true
  end
  tandem.on("host.ready", register)
  if tandem.state.registered then tandem.after(0, register) end
end
-- tandem.trim(s): `s` without leading and trailing white space.
function tandem.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end
-- tandem.party(uri, display_name): a SIP party for people, "Bob
-- <sip:bob@example.org>", or the URI alone without a display name.
function tandem.party(uri, display_name)
  if display_name and display_name ~= "" then return display_name .. " <" .. uri .. ">" end
  return uri
end
-- tandem.identify(ev, uri, display_name): who a SIP event's peer is among
-- the user's roster contacts (xmpp.who_is), for people. Sets ev.verified,
-- and ev.peer_jid and ev.contact_name only when verified (exactly one
-- contact publishes `uri` and ev.vouched: it came through the user's SIP
-- service); ev.claimed_jid when the peer only claims to be someone (its
-- Call-Info, ev.peer_impp, or an address it gave unvouched). Returns
-- "Bob (bob@example.org)" (the JID alone without a roster name) when
-- verified, else the party as
-- tandem.party writes it, with ", who claims to be bob@example.org
-- (unverified)" after a claim.
function tandem.identify(ev, uri, display_name)
  local claim = type(ev.peer_impp) == "string" and ev.peer_impp or nil
  local found = tandem.try_call("xmpp.who_is", { uri = uri, vouched = ev.vouched == true, claimed = claim }) or {}
  ev.verified = found.verified == true and type(found.jid) == "string"
  if ev.verified then
    ev.peer_jid, ev.contact_name = found.jid, found.name
    if not found.name then return found.jid end
    return found.name .. " (" .. found.jid .. ")"
  end
  ev.claimed_jid = found.claimed
  local text = tandem.party(uri, display_name)
  if found.claimed then text = text .. ", who claims to be " .. found.claimed .. " (unverified)" end
  return text
end
-- tandem.notify(text, thread): a note to the user's XMPP client
-- (xmpp.notify_user, in `thread` if given); answers the note's id, or nil
-- after logging why it could not go, so no rule stops over a lost note.
function tandem.notify(text, thread)
  local sent, err = tandem.try_call("xmpp.notify_user", { text = text, thread = thread })
  if not sent then
    tandem.log.warn("could not reach your XMPP client: " .. tostring(err.message or err))
    return nil
  end
  return sent.id
end
-- tandem.sip_thread(uri): the XEP-0201 thread of the user's chat with a SIP
-- peer, the same in every rule and across restarts, so an answer in it
-- finds the peer whichever rule wrote the note.
local SIP_THREAD = "tandem-sip:"
function tandem.sip_thread(uri)
  return SIP_THREAD .. uri
end
-- tandem.sip_peer_of_thread(thread): the SIP peer a thread of
-- tandem.sip_thread is with, or nil for any other thread (or none).
function tandem.sip_peer_of_thread(thread)
  if type(thread) ~= "string" or thread:sub(1, #SIP_THREAD) ~= SIP_THREAD then return nil end
  return thread:sub(#SIP_THREAD + 1)
end
-- tandem.duration(seconds): "42 s", "3 min 5 s", "1 h 2 min", for notes a
-- person reads; anything not a number counts as 0.
function tandem.duration(seconds)
  local s = floor((type(seconds) == "number" and seconds or 0) + 0.5)
  if s < 60 then return s .. " s" end
  if s < 3600 then return floor(s / 60) .. " min " .. (s % 60) .. " s" end
  return floor(s / 3600) .. " h " .. floor((s % 3600) / 60) .. " min"
end
