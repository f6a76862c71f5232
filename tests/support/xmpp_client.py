"""An independent XMPP client (slixmpp) for Tandem's tests.

Plays the user's "existing client" or a contact. Prints one JSON object per
line for what it sees; takes one JSON command per line on stdin.

Usage: xmpp_client.py JID PASSWORD PORT CA_FILE PRIORITY
"""

import asyncio
import base64
import json
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath


def say(**fields):
    fields["t"] = time.time()
    print(json.dumps(fields), flush=True)


STANZAS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"


def say_iq_error(e):
    """An IQ error: its defined condition, and the application-specific
    conditions (XEP-0050's <bad-sessionid/>, say) by local name."""
    app = [child.tag.split("}")[-1] for child in e.iq["error"].xml
           if not child.tag.startswith(STANZAS)]
    say(event="iq_error", condition=e.condition, app=app)


def say_adhoc_result(res):
    """The outcome of an ad-hoc command: its status, notes and session."""
    notes = [text for _, text in res["command"]["notes"]]
    say(event="adhoc_result", status=res["command"]["status"], notes=notes,
        sessionid=res["command"]["sessionid"])


JMI = "{urn:xmpp:jingle-message:0}"


def jingle_of(m):
    """A message's XEP-0353 element: kind, id and reason condition; {} if none."""
    element = next((c for c in m.xml if c.tag.startswith(JMI)), None)
    if element is None:
        return {}
    reason = element.find("{urn:xmpp:jingle:1}reason")
    conditions = [c.tag.split("}")[-1] for c in (reason if reason is not None else [])
                  if c.tag.split("}")[-1] != "text"]
    text = reason.find("{urn:xmpp:jingle:1}text") if reason is not None else None
    return {"kind": element.tag[len(JMI):], "id": element.get("id"),
            "reason": conditions[0] if conditions else None,
            "text": text.text if text is not None else None}


class TestClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password, priority, address):
        super().__init__(jid, password)
        self.priority = priority
        self.secret = password
        self.address = address
        self.extras = []  # other sessions of this account, kept connected
        self.register_plugin("xep_0030")  # disco
        self.register_plugin("xep_0115")  # caps
        self.register_plugin("xep_0199")  # ping
        self.register_plugin("xep_0280")  # carbons
        self.register_plugin("xep_0085")  # chat states
        self.register_plugin("xep_0163")  # PEP
        self.register_plugin("xep_0050")  # ad-hoc commands
        self.register_plugin("xep_0108")  # user activity (+notify)
        self.register_plugin("xep_0152")  # reachability addresses (+notify)
        self.register_plugin("xep_0054")  # vcard-temp
        # slixmpp's "message" event is only for messages with a body.
        self.register_handler(Callback(
            "receipt", MatchXPath("{jabber:client}message/{urn:xmpp:receipts}received"),
            self.on_receipt))
        for kind in ("propose", "ringing", "proceed", "accept", "reject", "retract", "finish"):
            self.register_handler(Callback(
                "jingle message " + kind,
                MatchXPath("{jabber:client}message/{urn:xmpp:jingle-message:0}" + kind),
                self.on_jingle))
        for action in ("invite", "accept", "reject", "retract", "left"):
            self.register_handler(Callback(
                "call invite " + action,
                MatchXPath("{jabber:client}message/{urn:xmpp:call-invites:0}" + action),
                self.on_call_invite))
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("carbon_received", self.on_carbon_received)
        self.add_event_handler("carbon_sent", self.on_carbon_sent)
        self.add_event_handler("failed_auth", lambda _: say(event="failed_auth"))
        self.add_event_handler("user_activity_publish", self.on_activity)
        self.add_event_handler("reachability_publish", self.on_reach)
        for state in ("active", "composing", "paused", "inactive", "gone"):
            self.add_event_handler("chatstate_" + state, self.on_chat_state)

    async def upload_slot(self, service, name, size, ctype):
        """A XEP-0363 slot for `name` (`size` bytes): its PUT URL, GET URL
        and the headers the PUT must carry; None (the error said) when the
        service refuses."""
        iq = self.make_iq_get(ito=service)
        req = ET.SubElement(iq.xml, "{urn:xmpp:http:upload:0}request",
                            filename=name, size=str(size))
        req.set("content-type", ctype)
        try:
            res = await iq.send(timeout=10)
        except IqError as e:
            say_iq_error(e)
            return None
        slot = res.xml.find("{urn:xmpp:http:upload:0}slot")
        put = slot.find("{urn:xmpp:http:upload:0}put")
        get = slot.find("{urn:xmpp:http:upload:0}get").get("url")
        return put.get("url"), get, {h.get("name"): h.text for h in put if h.text}

    async def start(self, _event):
        await self.get_roster()
        try:
            await self["xep_0280"].enable()
        except (IqError, IqTimeout) as e:
            say(event="error", what="carbons", error=str(e))
        self.send_presence(ppriority=self.priority)
        asyncio.ensure_future(self.commands())
        say(event="online", jid=str(self.boundjid))

    def on_presence(self, p):
        status = p["status"] or None
        reach = p.xml.find("{urn:xmpp:reach:0}reach")
        uris = [a.get("uri") for a in reach] if reach is not None else None
        say(event="presence", type=p["type"], **{"from": str(p["from"])},
            show=p["show"] or None, status=status, priority=p["priority"], reach=uris)

    def on_chat_state(self, m):
        say(event="chat_state", **{"from": str(m["from"])}, state=m["chat_state"])

    def on_activity(self, m):
        act = m["pubsub_event"]["items"]["item"]["activity"]
        general, specific = act["value"]
        say(event="activity", **{"from": str(m["from"])}, general=general or None,
            specific=specific or None, text=act["text"] or None)

    def on_reach(self, m):
        reach = m["pubsub_event"]["items"]["item"]["reach"]
        say(event="reach", **{"from": str(m["from"])},
            uris=[a["uri"] for a in reach["addresses"]])

    def on_receipt(self, m):
        received = m.xml.find("{urn:xmpp:receipts}received")
        say(event="receipt", **{"from": str(m["from"])}, id=received.get("id"))

    def on_call_invite(self, m):
        """XEP-0482, with or without a body."""
        element = next(c for c in m.xml if c.tag.startswith("{urn:xmpp:call-invites:0}"))
        uris = [e.get("uri") for e in element if e.tag == "{urn:xmpp:call-invites:0}external"]
        say(event="call_invite", **{"from": str(m["from"])}, action=element.tag.split("}")[-1],
            id=element.get("id") or m["id"] or None, uris=uris, body=m["body"] or None)

    def on_jingle(self, m):
        """XEP-0353, sent to this client (not a Carbon)."""
        say(event="jingle", **{"from": str(m["from"])}, **jingle_of(m))

    def on_message(self, m):
        if m["type"] in ("chat", "normal") and m["body"]:
            hints = [h.tag.split("}")[-1] for h in m.xml if h.tag.startswith("{urn:xmpp:hints}")]
            delay = m.xml.find("{urn:xmpp:delay}delay")
            oob = m.xml.find("{jabber:x:oob}x/{jabber:x:oob}url")
            shared = m.xml.find("{urn:xmpp:sfs:0}file-sharing/{urn:xmpp:file:metadata:0}file")
            shared = {c.tag.split("}")[-1]: c.text for c in shared} if shared is not None else None
            say(event="message", **{"from": str(m["from"]), "to": str(m["to"])}, body=m["body"],
                carbon=None, id=m["id"] or None, thread=m["thread"] or None, hints=hints,
                delay=delay.get("stamp") if delay is not None else None,
                oob=oob.text if oob is not None else None, file=shared)

    def on_carbon_received(self, m):
        inner = m["carbon_received"]
        say(event="message", **{"from": str(inner["from"]), "to": str(inner["to"])}, body=inner["body"], carbon="received",
            jingle=jingle_of(inner) or None)

    def on_carbon_sent(self, m):
        inner = m["carbon_sent"]
        say(event="message", **{"from": str(inner["from"]), "to": str(inner["to"])}, body=inner["body"], carbon="sent",
            jingle=jingle_of(inner) or None)

    def submitted(self, fields):
        """A filled-in data form (XEP-0004 submit) of `fields`."""
        form = self["xep_0004"].make_form(ftype="submit")
        for var, value in fields.items():
            form.add_field(var=var, value=value)
        return form

    async def commands(self):
        # stdin is read by a thread: asyncio pipe readers on stdin proved
        # unreliable here, and a lost command makes a test wait in vain.
        loop = asyncio.get_event_loop()
        queue = asyncio.Queue()

        def reader():
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=reader, daemon=True).start()
        while True:
            line = await queue.get()
            if line is None:
                self.disconnect()
                return
            try:
                await self.command(json.loads(line))
            except Exception as e:  # a bad command is reported, not fatal
                say(event="error", what="command", error=repr(e))

    async def command(self, c):
        if "presence" in c:
            p = c["presence"]
            asked = time.time()  # before any work of slixmpp's, as Tandem's bench clock
            stanza = self.make_presence(pshow=p.get("show"), pstatus=p.get("status"),
                                        ppriority=p.get("priority", self.priority))
            if "reach" in p:  # XEP-0152 addresses in presence, as raw XML
                reach = ET.SubElement(stanza.xml, "{urn:xmpp:reach:0}reach")
                for uri in p["reach"]:
                    ET.SubElement(reach, "{urn:xmpp:reach:0}addr", uri=uri)
            stanza.send()
            say(event="presence_sent", show=p.get("show"), status=p.get("status"), asked=asked)
        elif "presence_burst" in c:
            # n presence changes as fast as slixmpp sends them; statuses b-0..b-(n-1)
            n = c["presence_burst"]
            say(event="burst_start")
            for i in range(n):
                self.send_presence(pstatus="b-%d" % i, ppriority=self.priority)
            say(event="burst_sent")
        elif "message" in c:
            # Optional: id, thread, oob (XEP-0066), file_sharing (XEP-0447: url, name, size, media-type, sha256 in hex), receipt (ask for a XEP-0184 receipt),
            # reply_to (XEP-0461, with the XEP-0428 fallback quoting `quote`).
            m = c["message"]
            asked = time.time()  # before any work of slixmpp's, as Tandem's bench clock
            body = m["body"]
            msg = self.make_message(mto=m["to"], mtype="chat")
            if "id" in m:
                msg["id"] = m["id"]
            if "thread" in m:
                msg["thread"] = m["thread"]
            if "oob" in m:  # XEP-0066, as clients share an uploaded file
                ET.SubElement(ET.SubElement(msg.xml, "{jabber:x:oob}x"), "{jabber:x:oob}url").text = m["oob"]
            if "file_sharing" in m:  # XEP-0447 with XEP-0446 metadata, as Dino writes it
                f = m["file_sharing"]
                sharing = ET.SubElement(msg.xml, "{urn:xmpp:sfs:0}file-sharing", disposition="inline")
                meta = ET.SubElement(sharing, "{urn:xmpp:file:metadata:0}file")
                for tag in ("media-type", "name", "size"):
                    if tag in f:
                        ET.SubElement(meta, "{urn:xmpp:file:metadata:0}" + tag).text = str(f[tag])
                if "sha256" in f:  # XEP-0300: base64 of the digest
                    digest = base64.b64encode(bytes.fromhex(f["sha256"])).decode()
                    ET.SubElement(meta, "{urn:xmpp:hashes:2}hash", algo="sha-256").text = digest
                sources = ET.SubElement(sharing, "{urn:xmpp:sfs:0}sources")
                ET.SubElement(sources, "{http://jabber.org/protocol/url-data}url-data", target=f["url"])
            if m.get("receipt"):
                ET.SubElement(msg.xml, "{urn:xmpp:receipts}request")
            if "reply_to" in m:
                quote = "> " + m.get("quote", "") + "\n"
                body = quote + body
                ET.SubElement(msg.xml, "{urn:xmpp:reply:0}reply", id=m["reply_to"], to=m["to"])
                fallback = ET.SubElement(msg.xml, "{urn:xmpp:fallback:0}fallback")
                fallback.set("for", "urn:xmpp:reply:0")
                ET.SubElement(fallback, "{urn:xmpp:fallback:0}body", start="0", end=str(len(quote)))
            msg["body"] = body
            msg.send()
            if m.get("report"):
                say(event="message_sent", body=m["body"], asked=asked)
        elif "chat_state" in c:
            s = c["chat_state"]
            msg = self.make_message(mto=s["to"], mtype="chat")
            msg["chat_state"] = s["state"]
            msg.send()
        elif "subscribe" in c:
            # Mutual subscription without asking: both test accounts accept.
            self.send_presence(pto=c["subscribe"], ptype="subscribe")
            self.send_presence(pto=c["subscribe"], ptype="subscribed")
        elif "preauth_subscribe" in c:
            # XEP-0379: a subscription request carrying a roster link's token.
            p = c["preauth_subscribe"]
            stanza = self.make_presence(pto=p["to"], ptype="subscribe")
            ET.SubElement(stanza.xml, "{urn:xmpp:pars:0}preauth", token=p["token"])
            stanza.send()
        elif "disco" in c:
            # disco#info of a JID, or {"jid", "node"}: features and
            # identities (category, type, name), what Gajim shows.
            target = c["disco"] if isinstance(c["disco"], dict) else {"jid": c["disco"]}
            try:
                info = await self["xep_0030"].get_info(
                    jid=target["jid"], node=target.get("node"), timeout=10)
                say(event="disco", features=sorted(info["disco_info"]["features"]),
                    identities=[[i[0], i[1], i[3]] for i in info["disco_info"]["identities"]])
            except IqError as e:
                say_iq_error(e)
        elif "vcard_tel" in c:
            vcard = self["xep_0054"].make_vcard()
            vcard["FN"] = "Test"
            for number in c["vcard_tel"]:
                tel = self["xep_0054"].stanza.Telephone()
                tel["VOICE"] = True
                tel["NUMBER"] = number
                vcard.append(tel)
            await self["xep_0054"].publish_vcard(vcard)
            say(event="vcard_published")
        elif "vcard4_tel" in c:
            # XEP-0292 by hand: slixmpp 1.8 has no vCard4 plugin.
            ns = "urn:ietf:params:xml:ns:vcard-4.0"
            vcard = ET.Element("{%s}vcard" % ns)
            ET.SubElement(ET.SubElement(vcard, "{%s}fn" % ns), "{%s}text" % ns).text = "Test"
            for uri in c["vcard4_tel"]:
                ET.SubElement(ET.SubElement(vcard, "{%s}tel" % ns), "{%s}uri" % ns).text = uri
            await self["xep_0060"].publish(self.boundjid.bare, "urn:xmpp:vcard4",
                                           id="current", payload=vcard)
            say(event="vcard_published")
        elif "reach" in c:
            await self["xep_0152"].publish_reachability(c["reach"])
        elif "activity" in c:
            a = c["activity"]
            await self["xep_0108"].publish_activity(a["general"], a.get("specific"), a.get("text"))
            say(event="activity_published")
        elif "adhoc_list" in c:
            try:
                iq = await self["xep_0050"].get_commands(jid=c["adhoc_list"], timeout=10)
                nodes = [(item[1], item[2]) for item in iq["disco_items"]["items"]]
                say(event="adhoc_list", nodes=[n for n, _ in nodes], names=[n for _, n in nodes])
            except IqError as e:
                say_iq_error(e)
        elif "directed_presences" in c:
            await self.directed_presences(c["directed_presences"])
        elif "adhoc_continue" in c:
            # A continuation (complete, next, cancel) of a session, with
            # whatever sessionid the test chooses: no execute first.
            r = c["adhoc_continue"]
            iq = self.make_iq_set(ito=r["jid"])
            iq["command"]["node"] = r["node"]
            iq["command"]["sessionid"] = r["sessionid"]
            iq["command"]["action"] = r.get("action", "complete")
            if "fields" in r:
                iq["command"].append(self.submitted(r["fields"]))
            try:
                say_adhoc_result(await iq.send(timeout=10))
            except IqError as e:
                say_iq_error(e)
        elif "adhoc_run" in c:
            r = c["adhoc_run"]
            iq = self.make_iq_set(ito=r["jid"])
            iq["command"]["node"] = r["node"]
            iq["command"]["action"] = "execute"
            try:
                res = await iq.send(timeout=10)
                if res["command"]["status"] == "executing" and "fields" in r:
                    # A form: report what it asks, fill it in, complete.
                    fields = res["command"]["form"]["fields"]
                    fields = fields.values() if hasattr(fields, "values") else fields
                    asked = [f["var"] for f in fields]
                    # Each field's type and the value shown beforehand (a
                    # switch's state), as a client would show them.
                    shown = {f["var"]: [f["type"], f["value"]] for f in fields}
                    say(event="adhoc_form", fields=asked, shown=shown,
                        sessionid=res["command"]["sessionid"])
                    iq = self.make_iq_set(ito=r["jid"])
                    iq["command"]["node"] = r["node"]
                    iq["command"]["sessionid"] = res["command"]["sessionid"]
                    iq["command"]["action"] = "complete"
                    iq["command"].append(self.submitted(r["fields"]))
                    res = await iq.send(timeout=10)
                say_adhoc_result(res)
            except IqError as e:
                say_iq_error(e)
        elif "jingle" in c:
            # XEP-0353 as a user's client sends it: propose (with `media`),
            # ringing, proceed, reject, retract, finish (with `reason`).
            j = c["jingle"]
            msg = self.make_message(mto=j["to"], mtype="chat")
            element = ET.SubElement(msg.xml, JMI + j["kind"], id=j["id"])
            for media in j.get("media", []):
                ET.SubElement(element, "{urn:xmpp:jingle:apps:rtp:1}description", media=media)
            if "reason" in j:
                reason = ET.SubElement(element, "{urn:xmpp:jingle:1}reason")
                ET.SubElement(reason, "{urn:xmpp:jingle:1}" + j["reason"])
            ET.SubElement(msg.xml, "{urn:xmpp:hints}store")
            msg.send()
        elif "dino_propose" in c:
            # Dino's call invite: <propose> in urn:xmpp:call-message:1.
            d = c["dino_propose"]
            msg = self.make_message(mto=d["to"], mtype="chat")
            propose = ET.SubElement(msg.xml, "{urn:xmpp:call-message:1}propose",
                                    id=d["id"], video="false", multi="false")
            ET.SubElement(propose, "{urn:xmpp:call-message:1}jingle", sid=d["id"])
            msg.send()
        elif "call_invite" in c:
            # A XEP-0482 invite with external ways to join, as a contact's
            # client (or Tandem) sends it.
            i = c["call_invite"]
            msg = self.make_message(mto=i["to"], mtype="chat", mbody=i.get("body"))
            msg["id"] = i["id"]
            invite = ET.SubElement(msg.xml, "{urn:xmpp:call-invites:0}invite")
            for uri in i["uris"]:
                ET.SubElement(invite, "{urn:xmpp:call-invites:0}external", uri=uri)
            msg.send()
        elif "browse" in c:
            # disco#items with no node, as Gajim's Service Discovery asks.
            try:
                res = await self["xep_0030"].get_items(jid=c["browse"], timeout=10)
                say(event="browse", items=[list(i) for i in res["disco_items"]["items"]])
            except IqError as e:
                say_iq_error(e)
        elif "manual_subscriptions" in c:
            # As a person's client: subscription requests wait for the
            # user (slixmpp approves them by itself by default).
            self.roster[self.boundjid.bare].auto_authorize = None
            self.roster[self.boundjid.bare].auto_subscribe = False
            say(event="manual_subscriptions")
        elif "roster" in c:
            # The roster as the client keeps it (the server's answer may be
            # empty with roster versioning: pushes keep it current).
            roster = self.client_roster
            say(event="roster", request=c["roster"], items={j: {"subscription": roster[j]["subscription"],
                                           "name": roster[j]["name"]}
                                       for j in roster.keys()})
        elif "upload" in c:
            # XEP-0363 as a client shares a file: a slot from the upload
            # service (`service`), then an HTTP PUT of the file (`path`).
            u = c["upload"]
            data = open(u["path"], "rb").read()
            name = u.get("name") or u["path"].rsplit("/", 1)[-1]
            ctype = u.get("content_type", "application/octet-stream")
            slot = await self.upload_slot(u["service"], name, len(data), ctype)
            if slot is None:
                return
            put, get, headers = slot
            headers["Content-Type"] = ctype

            def upload():
                r = urllib.request.Request(put, data=data, method="PUT", headers=headers)
                with urllib.request.urlopen(r, timeout=30) as answer:
                    return answer.status
            status = await asyncio.get_event_loop().run_in_executor(None, upload)
            say(event="uploaded", status=status, url=get)
        elif "slot" in c:
            # Only the XEP-0363 slot, for another program to PUT to (a
            # bench's curl): its URLs and the headers the PUT must carry.
            u = c["slot"]
            slot = await self.upload_slot(u["service"], u["name"], u["size"],
                                          u.get("content_type", "application/octet-stream"))
            if slot is not None:
                put, get, headers = slot
                say(event="slot", name=u["name"], put=put, get=get, headers=headers)
        elif "unknown_iq" in c:
            iq = self.make_iq_get(queryxmlns="urn:example:nothing", ito=c["unknown_iq"])
            try:
                await iq.send(timeout=10)
                say(event="iq_result")
            except IqError as e:
                say_iq_error(e)

    async def directed_presences(self, d):
        """Logs in `resources` more sessions of this account (resources
        prefix0, prefix1, ...), each sending one directed presence to `to`
        and no broadcast one, as a stranger's server inventing resources
        would; they stay connected (leaving would send `to` unavailable)."""
        loop = asyncio.get_event_loop()
        started = []
        for i in range(d["resources"]):
            jid = "%s/%s%d" % (self.boundjid.bare, d.get("prefix", "r"), i)
            extra = slixmpp.ClientXMPP(jid, self.secret)
            extra.ca_certs = self.ca_certs
            done = loop.create_future()

            def on_start(_event, extra=extra, done=done):
                extra.send_presence(pto=d["to"])
                if not done.done():
                    done.set_result(True)

            extra.add_event_handler("session_start", on_start)
            extra.connect(address=self.address)
            self.extras.append(extra)
            started.append(done)
        await asyncio.wait_for(asyncio.gather(*started), 60)
        say(event="directed_presences_sent", n=len(started))


def main():
    jid, password, port, ca, priority = sys.argv[1:6]
    address = ("127.0.0.1", int(port))
    client = TestClient(jid, password, int(priority), address)
    client.ca_certs = ca
    client.connect(address=address)
    asyncio.get_event_loop().run_until_complete(client.disconnected)


if __name__ == "__main__":
    main()
