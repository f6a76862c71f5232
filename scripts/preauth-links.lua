-- preauth-links.lua: trade XMPP addresses with the SIP peers you talk
-- with, pre-authorised, so neither of you has to approve (REQ-4, XEP-0379).
--
-- Giving: when a call is up, Tandem sends the peer a SIP MESSAGE with a
-- roster link of your account, xmpp:alice@example.org?roster;preauth=TOKEN.
-- A subscription request carrying that token is approved by your sidecar
-- for you: once, within [plugins.xmpp] preauth_ttl_hours (default 24), and
-- only from the peer's JID when it is known (verified); your server still
-- shows the request to your clients meanwhile. A
-- forged, used, expired or misbound token is logged and the request
-- left to your own client, as usual. Never for a rejected or missed call.
--
-- Taking: a peer's link in a SIP message becomes a note in their thread,
-- "Bob's XMPP address is bob@example.org: say add to add them" (and only
-- that: sip-chat.lua does not relay the link's text as well); `add`
-- (sip-chat.lua's chat command) asks for their presence carrying the
-- token, and pre-approves theirs, so their Tandem's request back is
-- approved by your server. (Their server still shows your request to
-- their clients while their Tandem approves it.)
--
-- Configuration, [scripts.preauth-links] in tandem.toml:
--   enabled = true
--   offer   = "vouched"  -- to whom a link goes when a call is up:
--             "vouched"  callers your SIP service (the registrar) vouches
--                        for, and peers you called yourself
--             "always"   every answered call
--             "never"    nobody (you still take others' links)
--
-- Events:   sip.call.incoming, sip.call.answered, sip.call.ended, sip.message
-- Provides: contacts.add, contacts.take_link (sip-chat.lua hands it a
--           link instead of relaying its text)
-- Commands: xmpp.who_is, xmpp.preauth_offer, sip.send_message,
--           xmpp.notify_user, xmpp.add_contact

local cfg = tandem.settings { offer = "vouched" }
local OFFERS = { vouched = true, always = true, never = true }
if not OFFERS[cfg.offer] then
  error("[scripts.preauth-links] offer must be \"vouched\", \"always\" or \"never\", not " .. tostring(cfg.offer))
end

-- Incoming calls ringing or up: whether their caller was vouched for.
tandem.state.vouched = tandem.state.vouched or {}
-- The last link a peer gave: { jid, uri, peer }.
tandem.state.offered = tandem.state.offered

tandem.on("sip.call.incoming", function(ev)
  tandem.state.vouched[ev.call] = ev.vouched == true
end)

tandem.on("sip.call.ended", function(ev)
  tandem.state.vouched[ev.call] = nil
end)

local function wanted(ev)
  if cfg.offer == "always" then return true end
  if cfg.offer == "never" then return false end
  return ev.direction == "outgoing" or tandem.state.vouched[ev.call] == true
end

tandem.on("sip.call.answered", function(ev)
  if not wanted(ev) then return end
  local vouched = tandem.state.vouched[ev.call] == true
  local who = tandem.try_call("xmpp.who_is", { uri = ev.peer, vouched = vouched }) or {}
  local link, err = tandem.try_call("xmpp.preauth_offer", { peer = ev.peer, jid = who.verified and who.jid or nil })
  if not link then
    if err.kind ~= "unknown_command" then tandem.log.warn("no roster link for " .. ev.peer .. ": " .. tostring(err.message or err)) end
    return
  end
  local sent, why = tandem.try_call("sip.send_message", { to = ev.peer, body = link.uri })
  if sent then
    tandem.log.info("gave " .. ev.peer .. " a roster link of your XMPP account")
  else
    tandem.log.info("could not give " .. ev.peer .. " a roster link: " .. tostring(why.message or why))
  end
end)

-- The peer's JID and the link, when `body` is a roster link alone.
local function roster_link(body)
  local uri = tandem.trim(body or "")
  local jid = uri:match("^xmpp:([^%s?/]+@[^%s?/]+)%?roster;preauth=[%w_%-]+$")
  if not jid then return nil end
  return jid, uri
end

-- The last link the user was told about, "<link> <peer>": a link taken
-- from sip-chat.lua (contacts.take_link) comes again as the message's
-- event, and is told once.
tandem.state.told = tandem.state.told

-- Tells the user about a peer's link (once) and keeps it for `add`.
local function tell(ev, jid, uri)
  local told = uri .. " " .. tostring(ev.from)
  if tandem.state.told == told then return end
  tandem.state.told = told
  tandem.state.offered = { jid = jid, uri = uri, peer = ev.from }
  local who = (ev.display_name and ev.display_name ~= "") and ev.display_name or ev.from
  -- Only the registrar vouches for a From: anyone could have sent this.
  local unverified = ev.vouched and "" or " (the sender is not verified)"
  local ok, err = tandem.try_call("xmpp.notify_user", {
    text = who .. "'s XMPP address is " .. jid .. unverified .. ": say add to add them.",
    thread = tandem.sip_thread(ev.from),
  })
  if not ok then tandem.log.warn("could not tell you about " .. jid .. ": " .. tostring(err.message or err)) end
end

tandem.on("sip.message", function(ev)
  local jid, uri = roster_link(ev.body)
  if jid then tell(ev, jid, uri) end
end)

-- sip-chat.lua asks before relaying a SIP message: a roster link alone is
-- this rule's to tell, so the user gets one note, not the link's text too.
tandem.provide("contacts.take_link", function(ev)
  local jid, uri = roster_link(ev.body)
  if not jid then return nil, "not a roster link" end
  tell(ev, jid, uri)
  return { jid = jid }
end)

tandem.provide("contacts.add", function()
  local offered = tandem.state.offered
  if not offered then return nil, "No XMPP address to add: none came from a SIP peer." end
  local ok, err = tandem.try_call("xmpp.add_contact", { jid = offered.uri })
  if not ok then return nil, "Could not add " .. offered.jid .. ": " .. tostring(err.message or err) end
  tandem.state.offered = nil
  return { text = "Asked " .. offered.jid .. " to be your contact (with their link: their Tandem approves it)." }
end)
