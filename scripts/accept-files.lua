-- accept-files.lua: files your SIP contacts send, asked about in your own
-- XMPP client, and shared there once you accept.
--
-- When a SIP peer offers a file (the file-transfer plugin's
-- file_transfer.offered: Linphone's RCS file transfer, or RFC 4483), a note
-- reaches your clients in that peer's own conversation thread (the one
-- sip-chat.lua uses):
--   "Bob <sip:bob@example.org> offers holiday.jpg, 2.1 MB, image/jpeg:
--    reply accept or reject (k3x9a)"
-- An offer that comes inside a call that is up (a file sent while you are
-- on the phone with them) says so, and how long it waits there:
--   "… offers holiday.jpg, 2.1 MB, image/jpeg, in your call: reply accept
--    or reject within 20 seconds (k3x9a)"
-- Answer with accept or reject in one of these ways:
--   reply to that note (XEP-0461 "Reply" in Conversations, Dino, Gajim)
--   write accept or reject in the peer's thread (clients that echo <thread>)
--   write accept k3x9a or reject k3x9a anywhere in the chat with Tandem
-- Accepted, the file is fetched, uploaded to your XMPP server and shared
-- with your clients (shown inline); a note says when it failed and why.
-- Nothing is fetched without an answer; an offer nobody answers is
-- forgotten after the plugin's offer_ttl_seconds (a note says so).
--
-- Configuration, [scripts.accept-files] in tandem.toml:
--   auto_accept_from = ["sip:bob@example.org"]  -- fetched without asking
--   max_size = 104857600   -- bytes: larger offers are turned down at once
--
-- auto_accept_from only counts for a sender the user's SIP service vouches
-- for (the MESSAGE came through the registrar): anyone else can write any
-- From, so their offers are asked about like a stranger's. Addresses are
-- compared without scheme, port, parameters, case-insensitively.
-- Only messages from your own account are obeyed.
--
-- Events:   file_transfer.offered, .completed, .failed, .closed, xmpp.message
-- Emits:    accept_files.asked {id, note, peer}: which note asked about which
--           offer (sip-chat.lua leaves replies to it alone)
-- Commands: file_transfer.accept, file_transfer.reject, xmpp.notify_user,
--           xmpp.who_is (tandem.identify)

local cfg = tandem.settings { auto_accept_from = {}, max_size = 100 * 1024 * 1024 }
if math.type(cfg.max_size) ~= "integer" or cfg.max_size < 1 then
  error("[scripts.accept-files] max_size must be a whole number of bytes, not " .. tostring(cfg.max_size))
end

-- Offers remembered (a peer's offers are bounded by the plugin too).
local REMEMBER = 200

-- "Bob@Example.org:5060;transport=udp" and "sip:bob@example.org" alike.
local function bare(uri)
  local s = tostring(uri):match("<([^>]*)>") or tostring(uri)
  s = s:gsub("^sips?:", ""):gsub("[;?].*$", ""):gsub(":%d+$", "")
  return s:lower()
end

local trusted = {}
for _, uri in ipairs(cfg.auto_accept_from) do
  if type(uri) ~= "string" or not uri:match("^sips?:.+@.+") then
    error("[scripts.accept-files] auto_accept_from: `" .. tostring(uri) .. "` is not a SIP URI such as sip:bob@example.org")
  end
  trusted[bare(uri)] = true
end

-- Open offers by id: { peer, who, name }; and which note asked about which.
tandem.state.offers = tandem.state.offers or {}
tandem.state.order = tandem.state.order or {}
tandem.state.offer_of_note = tandem.state.offer_of_note or {}

local trim = tandem.trim

local who = tandem.party

local thread_of = tandem.sip_thread

-- "12 bytes", "2.1 kB", "2.1 MB", "1.5 GB".
local function size_text(n)
  if not n then return "size not given" end
  if n < 1000 then return n .. " bytes" end
  for _, unit in ipairs({ "kB", "MB", "GB" }) do
    n = n / 1000
    if n < 1000 or unit == "GB" then return string.format("%.1f %s", n, unit) end
  end
end

local note = tandem.notify

local function remember(id, offer)
  local order = tandem.state.order
  order[#order + 1] = id
  tandem.state.offers[id] = offer
  while #order > REMEMBER do
    local old = table.remove(order, 1)
    local gone = tandem.state.offers[old]
    if gone and gone.note then tandem.state.offer_of_note[gone.note] = nil end
    tandem.state.offers[old] = nil
  end
end

local function forget(id)
  local offer = tandem.state.offers[id]
  if not offer then return nil end
  if offer.note then tandem.state.offer_of_note[offer.note] = nil end
  tandem.state.offers[id] = nil
  for i, v in ipairs(tandem.state.order) do
    if v == id then table.remove(tandem.state.order, i) break end
  end
  return offer
end

-- Runs accept or reject for offer `id`, and says what happened.
local function answer(word, id, thread)
  local offer = tandem.state.offers[id]
  local where = offer and thread_of(offer.peer) or thread
  if word == "accept" then
    local ok, err = tandem.try_call("file_transfer.accept", { id = id, thread = where })
    if ok then
      note("Fetching " .. (offer and offer.name or ok.name or id) .. "…", where)
    else
      note("Not accepted: " .. tostring(err.message or err), where)
    end
  else
    local ok, err = tandem.try_call("file_transfer.reject", { id = id })
    if ok then
      forget(id)
      note("Turned down " .. (offer and offer.name or ok.name or id) .. ".", where)
    else
      note("Not rejected: " .. tostring(err.message or err), where)
    end
  end
end

tandem.on("file_transfer.offered", function(ev)
  -- A verified contact by roster name and JID ("Bob (bob@example.org)"),
  -- anyone else as their From says, marked when nothing vouches for it.
  local from = tandem.identify(ev, ev.peer, ev.peer_name)
  if not ev.verified then
    from = who(ev.peer, ev.peer_name)
    if not ev.vouched then from = from .. " (not verified)" end
  end
  local offer = { peer = ev.peer, who = from, name = ev.name }
  remember(ev.id, offer)
  local thread = thread_of(ev.peer)
  local what = ev.name .. ", " .. size_text(ev.size) .. (ev.media_type and (", " .. ev.media_type) or "")
  -- Inside a call that is up: the user is on the phone with the sender,
  -- and the offer waits only seconds there (the peer's re-INVITE is held).
  local within = ""
  if ev.call then
    what = what .. ", in your call"
    if ev.expires_in then within = " within " .. ev.expires_in .. " seconds" end
  end
  if ev.size and ev.size > cfg.max_size then
    note(from .. " offers " .. what .. ": over the " .. size_text(cfg.max_size)
      .. " this rule takes ([scripts.accept-files] max_size), so it was turned down.", thread)
    local ok, err = tandem.try_call("file_transfer.reject", { id = ev.id })
    if not ok then tandem.log.warn("could not turn down " .. ev.id .. ": " .. tostring(err.message or err)) end
    forget(ev.id)
    return
  end
  if ev.vouched and trusted[bare(ev.peer)] then
    note(from .. " sends " .. what .. ": fetching it (auto_accept_from).", thread)
    local ok, err = tandem.try_call("file_transfer.accept", { id = ev.id, thread = thread })
    if not ok then note("Could not fetch " .. ev.name .. ": " .. tostring(err.message or err), thread) end
    return
  end
  offer.note = note(from .. " offers " .. what .. ": reply accept or reject" .. within .. " (" .. ev.id .. ")", thread)
  if offer.note then
    tandem.state.offer_of_note[offer.note] = ev.id
    -- sip-chat.lua leaves a reply to this note to this rule.
    tandem.emit("accept_files.asked", { id = ev.id, note = offer.note, peer = ev.peer })
  end
end)

tandem.on("file_transfer.completed", function(ev)
  local offer = forget(ev.id) or { who = ev.peer }
  note("Received " .. ev.name .. " (" .. size_text(ev.size) .. ") from " .. offer.who .. ".", thread_of(ev.peer))
end)

tandem.on("file_transfer.failed", function(ev)
  if ev.id == "" then
    note(ev.peer .. " sent a file Tandem cannot take: " .. ev.reason, thread_of(ev.peer))
    return
  end
  local offer = forget(ev.id) or { who = ev.peer }
  note("Could not get " .. ev.name .. " from " .. offer.who .. ": " .. ev.reason, thread_of(ev.peer))
end)

tandem.on("file_transfer.closed", function(ev)
  local offer = forget(ev.id)
  if offer and ev.reason == "expired" then
    note("The offer of " .. ev.name .. " from " .. offer.who .. " expired unanswered.", thread_of(ev.peer))
  end
end)

-- The offer an answer is about: named, replied to, or the newest open one
-- from the peer whose thread it is in. nil: not an answer to an offer, so
-- sip-chat.lua's (a bare "reject" outside any thread rejects a call; in a
-- peer's thread with no offer open, it is text for that peer). sip-chat
-- follows the same open offers (and accept_files.asked) to leave these
-- answers alone.
local function offer_meant(ev, id)
  if id ~= "" then return tandem.state.offers[id] and id or nil end
  local by_note = ev.reply_to and tandem.state.offer_of_note[ev.reply_to]
  if by_note then return by_note end
  local peer = tandem.sip_peer_of_thread(ev.thread)
  if peer then
    local order = tandem.state.order
    for i = #order, 1, -1 do
      local offer = tandem.state.offers[order[i]]
      if offer and offer.peer == peer then return order[i] end
    end
  end
  return nil
end

tandem.on("xmpp.message", function(ev)
  if ev.via ~= "direct" or not ev.from_own_account then return end
  local word, id = trim(ev.body or ""):lower():match("^(%a+)%s*(%w*)$")
  if word ~= "accept" and word ~= "reject" then return end
  local which = offer_meant(ev, id)
  if which then answer(word, which, ev.thread) end
end)
