-- share-xmpp-address.lua: tell SIP peers your XMPP address.
--
-- Once the XMPP plugin is logged in, every INVITE Tandem sends and every
-- call it answers carries `Call-Info: <xmpp:you@example.org>;purpose=impp`
-- (RFC 6993, as RFC 7081 uses it), so a SIP peer that knows XMPP can find
-- you there (REQ-2). Your bare JID only, never the resource. For privacy,
-- switch it off: [scripts.share-xmpp-address] enabled = false (and leave
-- `impp` unset in [plugins.sip]).
--
-- Events:   xmpp.connection
-- Commands: sip.set_impp

tandem.on("xmpp.connection", function(ev)
  if ev.state ~= "online" or type(ev.jid) ~= "string" then return end
  local bare = ev.jid:match("^([^/]+)")
  if not bare then return end
  local ok, err = tandem.try_call("sip.set_impp", { address = "xmpp:" .. bare })
  if not ok and err.kind ~= "unknown_command" then
    tandem.log.warn("could not announce your XMPP address over SIP: " .. tostring(err.message or err))
  end
end)
