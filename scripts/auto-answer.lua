-- auto-answer.lua: answer calls from people you trust, without a click.
--
-- An incoming call whose caller is on the allow-list is answered, after an
-- optional delay (so it still rings briefly). Used by the demo and the tests;
-- useful for an intercom or a baby monitor.
--
-- Off unless switched on. Configuration, [scripts.auto-answer]:
--   enabled = true
--   allow   = ["sip:bob@example.org", "*@office.example.org"]   -- "*" allows anyone
--   delay   = 0          -- seconds to ring before answering
--
-- Callers are compared without scheme, port, parameters or display name,
-- case-insensitively: "Bob <sip:Bob@Example.org:5060;transport=udp>" is
-- bob@example.org.
--
-- Events:   sip.call.incoming
-- Commands: sip.answer

local cfg = tandem.config
local delay = cfg.delay or 0
if type(delay) ~= "number" or delay < 0 then
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

local allow = {}
for i, entry in ipairs(cfg.allow or {}) do
  if type(entry) ~= "string" then
    error("[scripts.auto-answer] allow[" .. i .. "] must be a string")
  end
  allow[#allow + 1] = address(entry)
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
  if not allowed(ev.peer) then return end
  if delay > 0 then
    tandem.after(delay, function() answer(ev.call) end)
  else
    answer(ev.call)
  end
end)

return { enabled = false }
