-- auto-answer.lua: answer calls from people you trust, without a click.
--
-- An incoming call whose caller is on the allow-list is answered, after an
-- optional delay (so it still rings briefly). Used by the demo and the tests;
-- useful for an intercom or a baby monitor.
--
-- BEWARE: the caller's address (the From header) proves nothing. Whoever
-- can reach your SIP port can write "sip:bob@example.org" as From, and an
-- answered call streams your microphone to them. Only the address a call
-- came from (`source`) is the sender's own: list the addresses you trust in
-- `sources`, and keep the plugin's `accept_from` (a registrar's addresses by
-- default) as tight as your setup allows.
--
-- Off unless switched on. Configuration, [scripts.auto-answer]:
--   enabled = true
--   allow   = ["sip:bob@example.org", "*@office.example.org"]   -- "*" allows anyone
--   sources = ["192.0.2.10", "127.0.0.1"]   -- optional: answer only calls that
--                                           -- came from one of these IP addresses
--   delay   = 0          -- seconds to ring before answering
--   verified_contacts = false  -- also answer your roster contacts, when
--                              -- verified: exactly one contact publishes the
--                              -- caller's SIP address and the call came
--                              -- through your SIP service (tandem.identify)
--
-- Callers are compared without scheme, port, parameters or display name,
-- case-insensitively: "Bob <sip:Bob@Example.org:5060;transport=udp>" is
-- bob@example.org. Sources are compared by IP address (the port does not
-- matter): exact addresses, no ranges (the plugin's accept_from takes those).
--
-- Events:   sip.call.incoming
-- Commands: sip.answer, xmpp.who_is (verified_contacts)

-- `sources` has no default: without it, calls from any address.
local cfg = tandem.settings({ allow = {}, delay = 0, verified_contacts = false }, { sources = "table" })
local delay = cfg.delay
if delay < 0 then
  error("[scripts.auto-answer] delay must be a number of seconds >= 0, not " .. tostring(delay))
end

-- user@host of a SIP URI or address.
local function address(uri)
  local s = string.lower(uri)
  s = s:match("<([^>]*)>") or s           -- "Name <sip:...>"
  s = s:gsub("^sips?:", "")               -- scheme
  s = s:gsub("[;?].*$", "")               -- parameters, headers
  s = s:gsub(":%d+$", "")                 -- port
  return s
end

-- The config list `key`, each entry a string, as `normal` writes it.
local function list_of(key, normal)
  local out = {}
  for i, entry in ipairs(cfg[key]) do
    if type(entry) ~= "string" then
      error("[scripts.auto-answer] " .. key .. "[" .. i .. "] must be a string")
    end
    out[#out + 1] = normal(entry)
  end
  return out
end

local allow = list_of("allow", address)

-- The IP address of a source "192.0.2.10:5060" or "[2001:db8::1]:5060",
-- lower case; nil when there is none.
local function source_ip(source)
  if type(source) ~= "string" then return nil end
  local s = string.lower(source)
  return s:match("^%[(.*)%]:%d+$") or s:match("^([^:]*):%d+$") or s:match("^%[(.*)%]$") or s
end

local sources = cfg.sources and list_of("sources", source_ip)

-- Without `sources`, any source; with it, one of them.
local function from_trusted_source(source)
  if sources == nil then return true end
  local ip = source_ip(source)
  if ip == nil then return false end
  for _, entry in ipairs(sources) do
    if entry == ip then return true end
  end
  return false
end

local function allowed(peer)
  local who = address(peer or "")
  for _, entry in ipairs(allow) do
    if entry == "*" or entry == who then return true end
    local domain = entry:match("^%*@(.+)$")
    if domain and who:sub(-#domain - 1) == "@" .. domain then return true end
  end
  return false
end

local function answer(call)
  local ok, err = tandem.try_call("sip.answer", { call = call })
  if not ok then tandem.log.warn("could not answer " .. call .. ": " .. tostring(err)) end
end

tandem.on("sip.call.incoming", function(ev)
  if not allowed(ev.peer) then
    if not cfg.verified_contacts then return end
    tandem.identify(ev, ev.peer or "", ev.display_name)
    if not ev.verified then return end
  end
  if not from_trusted_source(ev.source) then
    tandem.log.info("not answering " .. tostring(ev.peer) .. ": it came from "
      .. tostring(ev.source) .. ", not one of sources")
    return
  end
  if delay > 0 then
    tandem.after(delay, function() answer(ev.call) end)
  else
    answer(ev.call)
  end
end)

return { enabled = false }
