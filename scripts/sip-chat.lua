-- sip-chat.lua: SIP messages in your own XMPP client, your answers back,
-- and the phone's commands as chat.
--
-- A SIP MESSAGE (RFC 3428) to your SIP address reaches your XMPP clients as
-- a chat message from your account's sidecar resource:
--   "Bob <sip:bob@example.org>: are you free at 3?"
-- in a conversation thread of its own per SIP peer, kept in your server's
-- archive. A sender that did not come through your SIP service (the
-- registrar) is marked "(not verified)": its From is whatever it wrote. A
-- sender verified as one of your contacts (tandem.identify: exactly one
-- contact publishes that SIP address, and it came through the registrar)
-- is named as on your roster: "Bob (bob@example.org): are you free at 3?".
-- To answer, write to the sidecar resource, and name the peer in
-- one of these ways (checked in this order):
--   sip:bob@example.org see you then        -- an explicit address (also
--                                           -- /msg sip:…, where the client
--                                           -- does not take /msg itself:
--                                           -- Profanity does)
--   @bob see you then                       -- an alias from the config
--   reply to the message (XEP-0461 "Reply" in Conversations, Dino, Gajim)
--   quote its first line: "> Bob <sip:bob@example.org>: ..." then the text
--   stay in its thread (clients that echo <thread>)
-- Anything else is never sent to SIP: the sidecar answers with a hint.
-- When the peer answers 2xx your client gets a delivery receipt
-- (XEP-0184) for your message; when it fails, a note says why.
--
-- With a bridge contact ([plugins.xmpp] bridge_jid) all of this happens in
-- the chat with that contact instead, and typing shows both ways: a SIP
-- peer typing to you shows as "typing" from the bridge contact, and your
-- typing to the bridge contact goes to the SIP peer you are talking with
-- (the last one you wrote to or heard from) as RFC 3994 is-composing,
-- through the composing plugin (its send_typing switches that off).
-- Without one, typing still reaches rules: clients show no chat states in
-- a note to yourself.
--
-- Commands, typed alone in the same chat: help, answer, reject, hangup,
-- call <sip-uri|jid|@alias>, calls, status, rules, transfers, cancel <id>, and for call invites
-- (call-invites.lua) invite <jid>, accept, decline. They run the same actions as
-- the ad-hoc commands of call-control.lua and status-commands.lua (load
-- those rules too). Only messages from your own account are obeyed.
--
-- Configuration, [scripts.sip-chat] in tandem.toml:
--   enabled  = true
--   aliases  = { bob = "sip:bob@example.org" }  -- for @bob
--   remember = 500      -- relayed messages kept for replies (by id), and
--                       -- your messages kept to handle each id once
--
-- A file you share (your client uploads it and sends its link, with
-- XEP-0066 OOB or XEP-0447 file sharing, whose name, size, type and hash
-- go with the offer) is offered as a file to the peer named as above, or
-- to several:
--   sip:bob@example.org sip:carol@example.org https://…/holiday.jpg
-- with the file-transfer plugin (a note per peer says how it went);
-- without it, or for a link that is not a file, the link goes as text.
--
-- A roster link a peer sends (xmpp:bob@example.org?roster;preauth=…) is
-- not relayed either when preauth-links.lua is loaded: its note says
-- whose address it is and how to add them.
--
-- File offers (with the file-transfer plugin) are not relayed as messages:
-- accept-files.lua asks about them in the peer's thread, and "accept" or
-- "reject" answering an open offer is left to it.
--
-- Provides: sip.take_message (the SIP plugin asks before answering 200)
-- Events:   sip.message (within a call), xmpp.message, composing.peer, xmpp.chat_state,
--           file_transfer.offered, .completed, .failed, .closed, .delivered,
--           accept_files.asked
-- Commands: xmpp.notify_user, xmpp.send_receipt, sip.send_message, file_transfer.send,
--           xmpp.notify_typing, composing.user_typing,
--           calls.answer, calls.reject, calls.hangup, calls.call,
--           status.show, status.calls, status.rules, status.transfers,
--           status.cancel_transfer, file_transfer.list, contacts.take_link

local cfg = tandem.settings { aliases = {}, remember = 500 }
local aliases = cfg.aliases
for name, uri in pairs(aliases) do
  if type(name) ~= "string" or type(uri) ~= "string" or not uri:match("^sips?:.+@.+") then
    error("[scripts.sip-chat] aliases: `" .. tostring(name) .. "` must name a SIP URI such as sip:bob@example.org, not " .. tostring(uri))
  end
end
local remember = cfg.remember
if math.type(remember) ~= "integer" or remember < 1 or remember > 100000 then
  error("[scripts.sip-chat] remember must be a whole number from 1 to 100000, not " .. tostring(remember))
end

local HINT = "Not sent: to answer a SIP message, reply to it or write "
  .. "sip:bob@example.org your text. Type help for the commands."

-- The SIP address of each verified contact a note named by JID ("Bob
-- (bob@example.org): …"), so a quote of it finds the peer.
tandem.state.uri_of_jid = tandem.state.uri_of_jid or {}
-- Which SIP peer each relayed note came from, by note id (for replies),
-- oldest forgotten first.
tandem.state.peer_of = tandem.state.peer_of or {}
tandem.state.ids = tandem.state.ids or {}
-- The SIP peer the user talks with now: the last one written to or heard
-- from. The user's typing goes there.
tandem.state.current = tandem.state.current

local function keep(id, peer)
  local ids = tandem.state.ids
  ids[#ids + 1] = id
  tandem.state.peer_of[id] = peer
  while #ids > remember do
    tandem.state.peer_of[table.remove(ids, 1)] = nil
  end
end

local trim = tandem.trim

local who = tandem.party

local thread_of = tandem.sip_thread

local note = tandem.notify

-- The type/subtype of a Content-Type, lower case, parameters dropped.
local function media_type(content_type)
  return trim((content_type or "text/plain"):match("^[^;]*")):lower()
end

-- Types other plugins take (is-composing: the composing plugin's).
local TAKEN = { ["application/im-iscomposing+xml"] = true }
-- File offers (RCS file transfer, RFC 4483): the file-transfer plugin's
-- when it is loaded (accept-files.lua asks the user about them); without
-- it they are named like any other type. Asked on the first offer, and
-- remembered once it answers (plugins are not loaded later).
local FILE_OFFERS = {
  ["application/vnd.gsma.rcs-ft-http+xml"] = true,
  ["message/external-body"] = true,
}

local function taken(kind)
  if TAKEN[kind] then return true end
  if not FILE_OFFERS[kind] or not tandem.try_call("file_transfer.list", {}) then return false end
  for file_kind in pairs(FILE_OFFERS) do TAKEN[file_kind] = true end
  return true
end

-- Open file offers: "accept" or "reject" answering one is accept-files.lua's,
-- never text for the peer nor a command. The same test as that rule: the
-- offer's id, a reply to its note (it tells which, accept_files.asked), or
-- the thread of a peer with an offer open.
tandem.state.offers = tandem.state.offers or {}       -- id -> { peer, note }
tandem.state.offer_ids = tandem.state.offer_ids or {}
tandem.state.offer_notes = tandem.state.offer_notes or {} -- note id -> offer id
local function offer_done(ev)
  local offer = tandem.state.offers[ev.id]
  if offer and offer.note then tandem.state.offer_notes[offer.note] = nil end
  tandem.state.offers[ev.id] = nil
end
tandem.on("file_transfer.offered", function(ev)
  local ids = tandem.state.offer_ids
  ids[#ids + 1] = ev.id
  tandem.state.offers[ev.id] = { peer = ev.peer }
  while #ids > remember do offer_done({ id = table.remove(ids, 1) }) end
end)
tandem.on("accept_files.asked", function(ev)
  local offer = tandem.state.offers[ev.id]
  if offer and ev.note then
    offer.note = ev.note
    tandem.state.offer_notes[ev.note] = ev.id
  end
end)
tandem.on("file_transfer.completed", offer_done)
tandem.on("file_transfer.failed", offer_done)
tandem.on("file_transfer.closed", offer_done)

local function answers_offer(ev, body)
  local word, id = body:lower():match("^(%a+)%s*(%w*)$")
  if word ~= "accept" and word ~= "reject" then return false end
  local offers = tandem.state.offers
  if id ~= "" then return offers[id] ~= nil end
  if ev.reply_to and tandem.state.offer_notes[ev.reply_to] then return true end
  local peer = tandem.sip_peer_of_thread(ev.thread)
  if not peer then return false end
  for _, offer in pairs(offers) do
    if offer.peer == peer then return true end
  end
  return false
end

-- Relays a SIP message to the user: true once the note is sent or kept
-- on disk for a client, else nil and why.
local function relay(ev)
  local kind = media_type(ev.content_type)
  if taken(kind) then return true end
  if kind == "text/plain" and ev.body_base64 == nil and trim(ev.body or ""):match("^xmpp:") then
    -- A roster link alone is preauth-links.lua's to tell (one note, not
    -- its text as well); without that rule, or anything else, relayed.
    local link = tandem.try_call("contacts.take_link", {
      from = ev.from, display_name = ev.display_name, vouched = ev.vouched, body = ev.body,
    })
    if link then return true end
  end
  -- A verified contact by their roster name and JID (tandem.identify);
  -- anyone else as they wrote their From. Only the user's SIP service
  -- vouches for who sent it; any other sender wrote its From as it liked.
  local from = tandem.identify(ev, ev.from, ev.display_name)
  if ev.verified then
    tandem.state.uri_of_jid[ev.peer_jid] = ev.from
  else
    from = who(ev.from, ev.display_name)
    if not ev.vouched then from = from .. " (not verified)" end
  end
  local text
  if kind == "text/plain" and ev.body_base64 == nil then
    text = from .. ": " .. trim(ev.body)
  else
    text = from .. " sent a message of type " .. kind .. ", which Tandem cannot show here."
  end
  local sent, err = tandem.try_call("xmpp.notify_user", { text = text, thread = thread_of(ev.from) })
  if not sent then return nil, tostring(err and err.message or err) end
  if sent.id then
    keep(sent.id, ev.from)
    tandem.state.current = ev.from
  end
  return true
end

-- A MESSAGE outside any call: the SIP plugin answers it 200 only once
-- this says the note is sent or kept; a refusal (the notes waiting for
-- your clients are full, or cannot be written) answers it 503 with
-- Retry-After, and the sender tries again later.
tandem.provide("sip.take_message", function(ev)
  local ok, why = relay(ev)
  if not ok then
    tandem.log.warn("a SIP message from " .. tostring(ev.from) .. " was refused for now (its sender will send it again): " .. why)
    return nil, why
  end
  return {}
end)

-- Within a call the call's dialog has answered it already: relayed as is.
tandem.on("sip.message", function(ev)
  if ev.call == nil then return end
  local ok, why = relay(ev)
  if not ok then tandem.log.warn("could not reach your XMPP client: " .. why) end
end)

-- A SIP peer typing: shown from the bridge contact (a no-op without one).
local SHOWN = { composing = "composing", idle = "paused" }
tandem.on("composing.peer", function(ev)
  local state = SHOWN[ev.state]
  if not state then return end
  local ok, err = tandem.try_call("xmpp.notify_typing", { state = state })
  if not ok and not (err and err.kind == "unknown_command") then
    tandem.log.debug("typing not shown: " .. tostring(err.message or err))
  end
end)

-- The user typing to Tandem (the bridge contact): to the current peer.
tandem.on("xmpp.chat_state", function(ev)
  if ev.via ~= "direct" or not ev.from_own_account then return end
  local peer = tandem.state.current
  if not peer then return end
  local ok, err = tandem.try_call("composing.user_typing", { to = peer, state = ev.state })
  if not ok and not (err and err.kind == "unknown_command") then
    tandem.log.debug("typing not sent: " .. tostring(err.message or err))
  end
end)

-- The SIP peer and the text of an answer, or nil: see the header for the
-- order. `body` has no reply quote left (the XMPP plugin strips it).
local function target_of(ev)
  local body = ev.body or ""
  local to, rest = body:match("^/msg%s+(sips?:%S+)%s+(.+)$")
  if to then return to, rest end
  to, rest = body:match("^(sips?:[^%s@]+@%S+)%s+(.+)$")
  if to then return to, rest end
  local alias
  alias, rest = body:match("^@([%w%._%-]+)%s+(.+)$")
  if alias then
    if aliases[alias] then return aliases[alias], rest end
    return nil, nil, "Not sent: there is no alias @" .. alias .. " ([scripts.sip-chat] aliases)."
  end
  if ev.reply_to and tandem.state.peer_of[ev.reply_to] then
    return tandem.state.peer_of[ev.reply_to], body
  end
  -- A quoted note: its first line names the peer, the unquoted lines are
  -- the answer.
  local first = body:match("^>[^\n]*")
  if first then
    -- "> Bob <sip:bob@x>: ..." or, without a display name, "> sip:bob@x: ..."
    -- (either maybe with " (not verified)" before the colon).
    local bare = first:match("^>%s*(sips?:%S+)")
    local quoted = first:match("<(sips?:[^>%s]+)>") or (bare and bare:gsub(":$", ""))
    -- "> Bob (bob@example.org): ...", a verified contact's note.
    local jid = first:match("^>[^<(]-%(([^%s()<>]+@[^%s()<>]+)%):")
    quoted = quoted or (jid and tandem.state.uri_of_jid[jid])
    local answer = {}
    for line in (body .. "\n"):gmatch("([^\n]*)\n") do
      if not line:match("^>") then answer[#answer + 1] = line end
    end
    local text = trim(table.concat(answer, "\n"))
    if quoted and text ~= "" then return quoted, text end
  end
  local peer = tandem.sip_peer_of_thread(ev.thread)
  if peer then return peer, body end
  return nil
end

-- A shared file: what the user's client said of it (`file`: XEP-0447's
-- name, size, type and hash, or XEP-0066's link alone) when the text is
-- that link (as clients send it) or nothing, else a text that is a link
-- alone (a client that sends only the link), maybe after more SIP
-- addresses ("sip:a@x sip:b@y https://…" offers it to both). The peers
-- and the file, or nil.
local function shared_file(peer, text, file)
  local peers, rest = { peer }, text
  while true do
    local more, after = rest:match("^(sips?:[^%s@]+@%S+)%s+(.+)$")
    if not more then break end
    peers[#peers + 1] = more
    rest = after
  end
  if file and file.url and (rest == file.url or trim(rest) == "") then return peers, file end
  local url = rest:match("^https?://%S+$")
  if url then return peers, { url = url } end
  return nil
end

-- Offers the user's file to the peers through the file-transfer plugin,
-- which answers at once (each peer `pending`); false when the plugin is
-- not loaded or the link is not a file (a web page): then it goes as
-- text. What the user's client said of the file goes with it: no need to
-- ask the server.
local function send_file(peers, file)
  local sent, err = tandem.try_call("file_transfer.send", {
    to = peers, url = file.url, name = file.name, size = file.size,
    media_type = file.media_type, sha256 = file.sha256,
  })
  if not sent then
    if err.kind ~= "unknown_command" then tandem.log.info("link sent as text: " .. tostring(err.message)) end
    return false
  end
  return true
end

-- A note per peer, in its thread, as each answers the offer.
tandem.on("file_transfer.delivered", function(ev)
  local whom, name = who(ev.peer), tostring(ev.name)
  local text
  if ev.delivery == "offered" then
    text = "Sent " .. name .. " to " .. whom .. "."
  elseif ev.delivery == "link" then
    text = whom .. " does not take files: sent " .. name .. " as a link."
  else
    -- The plugin's reason names the peer again ("sip:dave@… declined"):
    -- once is enough.
    local reason = tostring(ev.reason)
    local peer = tostring(ev.peer)
    if reason:sub(1, #peer + 1) == peer .. " " then reason = "they " .. reason:sub(#peer + 2) end
    text = whom .. " could not take " .. name .. ": " .. reason
  end
  note(text, thread_of(ev.peer))
end)

-- Chat commands: the word typed alone, and what it runs.
local COMMANDS = {
  answer = { "calls.answer" },
  reject = { "calls.reject" },
  hangup = { "calls.hangup" },
  status = { "status.show" },
  calls = { "status.calls" },
  rules = { "status.rules" },
  transfers = { "status.transfers" },
  accept = { "invites.accept" },
  decline = { "invites.decline" },
  add = { "contacts.add" },
}
local HELP = table.concat({
  "Commands: answer, reject, hangup, call <sip:address, contact JID or @alias>, calls (recent calls), status, rules (which are on; rules off NAME, rules on NAME), help.",
  "Call invites: invite <contact JID> (they get your SIP address), accept or decline an invite you got.",
  "Files: transfers (those under way), cancel <id>.",
  "To write to a SIP contact: sip:bob@example.org text, @alias text, or reply to their message.",
}, "\n")

-- A refusal as a sentence for a person: "there is no ringing call" (as
-- the SIP plugin words it for rules) → "There is no ringing call."
local function sentence(text)
  text = text:gsub("^%l", string.upper)
  if not text:match("[.!?]$") then text = text .. "." end
  return text
end

-- Runs a chat command; false when `body` is not one.
local function command(body, thread)
  local word, arg = trim(body):lower():match("^(%a+)%s*(.-)$")
  if word == "help" and arg == "" then
    note(HELP, thread)
    return true
  end
  local run, args
  if word == "call" and arg ~= "" then
    local whom = trim(body):match("^%a+%s+(.+)$")
    if whom:sub(1, 1) == "@" then whom = aliases[whom:sub(2)] or whom end
    run, args = "calls.call", { fields = { uri = whom } }
  elseif word == "invite" and arg ~= "" then
    run, args = "invites.send", { to = trim(body):match("^%a+%s+(.+)$") }
  elseif word == "rules" and (arg:match("^on%s+[%w%-]+$") or arg:match("^off%s+[%w%-]+$")) then
    local state, rule = arg:match("^(%a+)%s+([%w%-]+)$")
    run, args = "status.rules", { rule = rule, on = state == "on" }
  elseif word == "cancel" and arg:match("^%w+$") then
    run, args = "status.cancel_transfer", { id = arg }
  elseif COMMANDS[word] and arg == "" then
    run, args = COMMANDS[word][1], {}
  else
    return false
  end
  local answer, err = tandem.try_call(run, args)
  if answer then
    note(answer.text or "Done.", thread)
  elseif err and err.kind == "unknown_command" then
    note("That command is not available: the rule that serves it is not loaded.", thread)
  else
    note(sentence(tostring(err and err.message or err)), thread)
  end
  return true
end

-- Your messages handled already, by sender and id, the last `remember`:
-- a client that sends one again (after a reconnection, XEP-0198), or a
-- copy that reaches Tandem twice, is handled once, never sent twice.
tandem.state.handled = tandem.state.handled or {}
tandem.state.handled_order = tandem.state.handled_order or {}
local function first_time(ev)
  if not ev.id or ev.id == "" then return true end
  local key = tostring(ev.from) .. " " .. ev.id
  local handled, order = tandem.state.handled, tandem.state.handled_order
  if handled[key] then return false end
  handled[key] = true
  order[#order + 1] = key
  while #order > remember do handled[table.remove(order, 1)] = nil end
  return true
end

tandem.on("xmpp.message", function(ev)
  -- Only what one of your own clients sent to the sidecar itself: never a
  -- contact's message, never a Carbons copy of a note to yourself.
  if ev.via ~= "direct" or not ev.from_own_account then return end
  if not first_time(ev) then
    tandem.log.debug("your message " .. ev.id .. " came again: handled once")
    return
  end
  local body = trim(ev.body or "")
  if body == "" or answers_offer(ev, body) then return end
  local peer, text, problem = target_of(ev)
  if not peer then
    if problem then
      note(problem, ev.thread)
    elseif not command(body, ev.thread) then
      note(HINT, ev.thread)
    end
    return
  end
  text = trim(text)
  if text == "" then
    note("Not sent: the message to " .. peer .. " is empty.", thread_of(peer))
    return
  end
  tandem.state.current = peer
  -- The message ends the user's typing (no "idle" follows it); waiting for
  -- this answer also lets a "typing" still on its way arrive first.
  tandem.try_call("composing.user_typing", { to = peer, state = "active" })
  local sent, err
  local peers, file = shared_file(peer, text, ev.file)
  if peers then sent = send_file(peers, file) end
  if not sent then sent, err = tandem.try_call("sip.send_message", { to = peer, body = text }) end
  if sent then
    if ev.receipt_requested and ev.id then
      -- From where it was sent to: the sidecar or the bridge contact.
      local ok, err = tandem.try_call("xmpp.send_receipt", { to = ev.from, id = ev.id, from = ev.to })
      if not ok then tandem.log.warn("no receipt for your message: " .. tostring(err.message or err)) end
    end
  else
    note("Not delivered to " .. peer .. ": " .. tostring(err.message or err), thread_of(peer))
  end
end)
