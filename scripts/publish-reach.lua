-- publish-reach.lua: tell your contacts where they can call you, and only
-- while they can.
--
-- Publishes your SIP address as XEP-0152 reachability (in presence and by
-- PEP) while the SIP side can take calls: registered with your registrar,
-- or listening with no registrar at all. When registration fails the
-- address is withdrawn, so contacts' clients stop offering a call that
-- cannot reach you; it comes back when registration recovers (REQ-3).
-- It takes the place of `reach` in [plugins.xmpp].
--
-- Off until switched on: it replaces a `reach` you may have configured.
--
-- Configuration, [scripts.publish-reach] in tandem.toml:
--   enabled = false  -- true switches it on
--   address = ""     -- the address to publish; "" is the SIP plugin's own
--                    -- (`address` in sip.status)
--
-- Events:   host.ready, sip.registration
-- Commands: sip.status, xmpp.set_reach

local cfg = tandem.settings { address = "" }
local configured = cfg.address
if configured ~= "" and not configured:match("^sips?:[^%s]+$") then
  error("[scripts.publish-reach] address must be a SIP URI such as sip:alice@example.org, not " .. configured)
end

-- Whether the address is published now (nil: not decided yet).
tandem.state.published = tandem.state.published

local function address()
  if configured ~= "" then return configured end
  local status = tandem.try_call("sip.status", {})
  return type(status) == "table" and type(status.address) == "string"
    and status.address ~= "" and status.address or nil
end

local function publish(reachable)
  if tandem.state.published == reachable then return end
  local uri = reachable and address() or nil
  if reachable and not uri then return end
  local addresses = uri and { { uri = uri } } or tandem.array()
  local ok, err = tandem.try_call("xmpp.set_reach", { addresses = addresses })
  if not ok then
    tandem.log.warn("could not update where contacts can call you: " .. tostring(err.message or err))
    return
  end
  tandem.state.published = reachable
end

tandem.on("host.ready", function()
  local status = tandem.try_call("sip.status", {})
  if type(status) ~= "table" then return end
  -- No registrar: listening is all it takes to be called.
  if status.registration == "none" or status.registration == "registered" then
    publish(true)
  end
end)

tandem.on("sip.registration", function(ev)
  if ev.state == "registered" then
    publish(true)
  elseif ev.state == "failed" or ev.state == "unregistered" then
    publish(false)
  end
end)

return { enabled = false }
