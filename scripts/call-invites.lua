-- call-invites.lua: invite a contact to call you on your SIP address, and
-- take their invitations, with XEP-0482 call invites (REQ-1).
--
-- `invite bob@example.org`, typed alone in the chat with Tandem (see
-- sip-chat.lua), or the ad-hoc command *Invite to a call*, sends Bob a
-- call invite naming your SIP address (`<external uri='sip:…'/>`) with a
-- text for clients that do not know XEP-0482: "Call me at sip:…".
--
-- A contact's invite becomes a note: "bob@example.org invites you to a
-- call at sip:bob@example.org. Reply accept or decline." `accept` calls
-- the address it names (call-control.lua's Call, so a JID works too) and
-- tells their client it was accepted; `decline` tells it no. Only the
-- last 20 invites are kept; `accept`/`decline` take the newest one still
-- open. An invite with only a Jingle session (Dino, Conversations) gets a
-- note that Tandem cannot join it. Your own clients' answers (seen as
-- Carbons) close an invite too; a retracted invite is said and closed.
-- When a contact answers your invite, a note says so.
--
-- The call that answers an invite says so: `accept` places it with the
-- invite's id on your Call-Info (`;call-invite=`, beside your XMPP
-- address). When a call comes in naming an invite you sent, to that same
-- XMPP address, still open (single use, for `expire_after` seconds), it is
-- announced in the invites' thread, emitted as `invites.call` {call,
-- invite_id, peer_jid} for other rules, and answered if `answer_invited`.
-- Any other id, forged, reused or late, leaves an ordinary call.
--
-- Configuration, [scripts.call-invites] in tandem.toml:
--   enabled        = true
--   answer_invited = false   -- answer the call that answers your invite
--   expire_after   = 3600    -- seconds an invite you sent stays open
--
-- Events:   xmpp.call_invite, sip.call.incoming, host.ready
-- Emits:    invites.call
-- Commands provided: invites.send, invites.accept, invites.decline
-- Commands used:     sip.status, sip.answer, xmpp.send_call_invite,
--                    xmpp.notify_user, calls.call, xmpp.register_adhoc

local KEEP = 20
local THREAD = "tandem-invites"

local cfg = tandem.settings { answer_invited = false, expire_after = 3600 }
if math.type(cfg.expire_after) ~= "integer" or cfg.expire_after < 1 then
  error("[scripts.call-invites] expire_after must be a number of seconds, not " .. tostring(cfg.expire_after))
end

tandem.state.open = tandem.state.open or {} -- newest last: {id, from, uri}
tandem.state.sent = tandem.state.sent or {} -- newest last: {id, to, at}

local function note(text)
  tandem.notify(text, THREAD)
end

local function bare(jid) return (tostring(jid or ""):gsub("/.*$", "")) end

-- The first way to join that Tandem can use: a SIP or tel: URI.
local function joinable(uris)
  for _, uri in ipairs(uris or {}) do
    if uri:match("^sips?:") or uri:match("^tel:") then return uri end
  end
  return nil
end

local function close(id)
  local open = tandem.state.open
  for i = #open, 1, -1 do
    if open[i].id == id then return table.remove(open, i) end
  end
  return nil
end

-- The open invite `id` names, or the newest.
local function pick(id)
  local open = tandem.state.open
  if id and id ~= "" then
    for i = #open, 1, -1 do
      if open[i].id == id then return open[i] end
    end
    return nil
  end
  return open[#open]
end

tandem.provide("invites.send", function(args)
  local to = args.to or (args.fields and args.fields.jid)
  to = type(to) == "string" and to:match("^%s*(.-)%s*$") or ""
  if not to:match("^[^@%s/]+@[^@%s/]+$") then
    return nil, "Invite whom? Give a contact's XMPP address, such as bob@example.org"
  end
  local status = tandem.try_call("sip.status", {})
  local address = type(status) == "table" and status.address or nil
  if type(address) ~= "string" or address == "" then
    return nil, "The phone has no SIP address to invite to (is the SIP plugin running?)"
  end
  local sent, err = tandem.try_call("xmpp.send_call_invite", {
    to = to, action = "invite", uris = { address },
    body = "Call me at " .. address .. " (a call invite from Tandem).",
  })
  if not sent then return nil, "The invite did not go out: " .. tostring(err.message or err) end
  if sent.id then
    local mine = tandem.state.sent
    mine[#mine + 1] = { id = sent.id, to = to:lower(), at = os.time() }
    while #mine > KEEP do table.remove(mine, 1) end
  end
  return { text = "Invited " .. to .. " to call you at " .. address .. "." }
end)

tandem.provide("invites.accept", function(args)
  local invite = pick(args.id)
  if not invite then return nil, "No call invite is open." end
  local called, err = tandem.try_call("calls.call", { fields = { uri = invite.uri }, invite = invite.id })
  if not called then return nil, "Could not call " .. invite.uri .. ": " .. tostring(err.message or err) end
  close(invite.id)
  tandem.try_call("xmpp.send_call_invite", { to = invite.from, action = "accept", id = invite.id, uris = { invite.uri } })
  return { text = called.text or ("Calling " .. invite.uri .. ".") }
end)

tandem.provide("invites.decline", function(args)
  local invite = pick(args.id)
  if not invite then return nil, "No call invite is open." end
  close(invite.id)
  local ok, err = tandem.try_call("xmpp.send_call_invite", { to = invite.from, action = "reject", id = invite.id })
  if not ok then return nil, "Could not answer " .. invite.from .. ": " .. tostring(err.message or err) end
  return { text = "Declined the call invite from " .. bare(invite.from) .. "." }
end)

tandem.on("xmpp.call_invite", function(ev)
  local who = bare(ev.from)
  if ev.from_own_account then
    -- One of your own clients answered an invite: it is no longer open.
    if ev.via == "carbon_sent" and (ev.action == "accept" or ev.action == "reject") then close(ev.id) end
    return
  end
  if ev.via == "carbon_sent" then return end
  if ev.action == "invite" then
    local uri = joinable(ev.uris)
    if not uri then
      if ev.jingle then
        note(who .. " invites you to a call in their XMPP client (Jingle), which Tandem cannot join: answer it there.")
      end
      return
    end
    local open = tandem.state.open
    open[#open + 1] = { id = ev.id, from = ev.from, uri = uri }
    while #open > KEEP do table.remove(open, 1) end
    note(who .. " invites you to a call at " .. uri .. ". Reply accept or decline.")
  elseif ev.action == "retract" then
    if close(ev.id) then note(who .. " withdrew the call invite.") end
  elseif ev.action == "accept" then
    note(who .. " accepted your call invite: expect their call.")
  elseif ev.action == "reject" then
    note(who .. " declined your call invite.")
  end
end)

-- The invite a call claims to answer, if the user sent it to the caller's
-- own claimed XMPP address and it is still open: taken (single use).
local function answered_invite(claim, impp)
  local jid = type(impp) == "string" and impp:match("^xmpp:([^/]+)") or nil
  if type(claim) ~= "string" or not jid then return nil end
  local mine, now = tandem.state.sent, os.time()
  for i = #mine, 1, -1 do
    local invite = mine[i]
    if now - invite.at > cfg.expire_after then
      table.remove(mine, i)
    elseif invite.id == claim and invite.to == jid:lower() then
      return table.remove(mine, i)
    end
  end
  return nil
end

tandem.on("sip.call.incoming", function(ev)
  local invite = answered_invite(ev.invite_claim, ev.peer_impp)
  if not invite then return end
  tandem.emit("invites.call", { call = ev.call, invite_id = invite.id, peer_jid = invite.to })
  if cfg.answer_invited then
    local ok, err = tandem.try_call("sip.answer", { call = ev.call })
    if not ok then tandem.log.warn("could not answer " .. tostring(ev.call) .. ": " .. tostring(err.message or err)) end
    note(invite.to .. " is calling you, as you invited: answered.")
  else
    note(invite.to .. " is calling you, as you invited.")
  end
end)

local COMMANDS = {
  { node = "invite", name = "Invite to a call", handler = "invites.send",
    fields = { { var = "jid", label = "Contact's XMPP address (bob@example.org)" } } },
}

tandem.adhoc(COMMANDS)
