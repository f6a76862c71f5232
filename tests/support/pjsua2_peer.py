"""A SIP peer for Tandem's tests: pjsua2 (PJSIP's own user agent, not
Tandem code), sending and receiving SIP MESSAGE (RFC 3428) and isComposing
(RFC 3994). No sound device: the null audio device.

Set up by command-line arguments; then takes one JSON command per line on
stdin, each to the URI given with --to:
    {"message": "text"}      a text/plain MESSAGE (its outcome: "im_status")
    {"typing": true|false}   an isComposing active / idle
Prints one JSON object per line on stdout for what happens:
    {"event": "ready", "uri": ...}                      listening
    {"event": "im", "from", "to", "content_type", "body"}  onInstantMessage
    {"event": "typing", "from", "is_typing"}            onTypingIndication
    {"event": "im_status", "to", "code", "reason", "body"} onInstantMessageStatus
    {"event": "sent", "what": "message"|"typing"}       handed to PJSIP
    {"event": "error", "what", "error"}                 a command that failed
Ends when stdin closes or after --seconds.

Usage: pjsua2_peer.py --user pat --name Pat [--address 127.0.0.1] [--port 0]
                      [--to sip:alice@127.0.0.1:5060] [--log FILE] [--seconds 120]
(--port 0: a free port. PJSIP writes From without the port, so a peer that
must be answered at the address in its From listens at 5060 on an
--address of its own.)
"""

import argparse
import json
import os
import queue
import sys
import threading
import time

import pjsua2 as pj


# PJSIP writes its first log lines to stdout before any config applies: the
# JSON lines get stdout's file of their own, and file descriptor 1 (where C
# code writes) becomes stderr.
OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def say(**fields):
    fields["t"] = time.time()
    print(json.dumps(fields), file=OUT, flush=True)


class Peer(pj.Account):
    def onInstantMessage(self, prm):
        say(event="im", **{"from": prm.fromUri, "to": prm.toUri},
            content_type=prm.contentType, body=prm.msgBody)

    def onTypingIndication(self, prm):
        say(event="typing", **{"from": prm.fromUri}, is_typing=bool(prm.isTyping))

    def onInstantMessageStatus(self, prm):
        say(event="im_status", to=prm.toUri, code=int(prm.code), reason=prm.reason,
            body=prm.msgBody)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--user", required=True)
    args.add_argument("--name", required=True)
    args.add_argument("--address", default="127.0.0.1")
    args.add_argument("--port", type=int, default=0)
    args.add_argument("--to")
    args.add_argument("--log")
    args.add_argument("--seconds", type=float, default=120)
    a = args.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    # Callbacks only from libHandleEvents below, in this (Python's) thread.
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = False
    cfg.uaConfig.userAgent = "pjsua2 test peer"
    # stdout is for the JSON lines: PJSIP's log goes to a file, or nowhere.
    cfg.logConfig.consoleLevel = 0
    cfg.logConfig.level = 5 if a.log else 0
    if a.log:
        cfg.logConfig.filename = a.log
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.boundAddress = a.address
    tcfg.port = a.port
    transport = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    port = ep.transportGetInfo(transport).localName.rsplit(":", 1)[1]
    uri = "sip:%s@%s:%s" % (a.user, a.address, port)

    acfg = pj.AccountConfig()
    acfg.idUri = '"%s" <%s>' % (a.name, uri)
    acfg.sipConfig.transportId = transport
    peer = Peer()
    peer.create(acfg, True)
    buddy = None
    if a.to:
        bcfg = pj.BuddyConfig()
        bcfg.uri = a.to
        bcfg.subscribe = False
        buddy = pj.Buddy()
        buddy.create(peer, bcfg)
    say(event="ready", uri=uri)

    commands = queue.Queue()

    def reader():
        for line in sys.stdin:
            commands.put(line)
        commands.put(None)

    threading.Thread(target=reader, daemon=True).start()
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        ep.libHandleEvents(10)
        try:
            line = commands.get_nowait()
        except queue.Empty:
            continue
        if line is None:
            break
        try:
            c = json.loads(line)
            if buddy is None:
                raise ValueError("no --to")
            if "message" in c:
                prm = pj.SendInstantMessageParam()
                prm.content = c["message"]
                buddy.sendInstantMessage(prm)
                say(event="sent", what="message")
            elif "typing" in c:
                prm = pj.SendTypingIndicationParam()
                prm.isTyping = bool(c["typing"])
                buddy.sendTypingIndication(prm)
                say(event="sent", what="typing")
        except Exception as e:  # reported, not fatal
            say(event="error", what=line.strip(), error=repr(e))
    peer.shutdown()
    ep.libDestroy()
    # Not Python's own teardown: SWIG objects (the buddy) destroyed after
    # the library can abort.
    OUT.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
