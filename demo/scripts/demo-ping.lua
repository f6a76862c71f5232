-- demo-ping.lua: shows a rule talking to a plugin. On every example.tick it
-- sends example.ping; the example plugin calls its own example.echo through
-- the host and answers with example.pong, which this rule logs.

tandem.on("example.tick", function(ev)
  tandem.emit("example.ping", { text = "tick " .. ev.n })
end)

tandem.on("example.pong", function(ev)
  tandem.log.info(string.format("%s (round trip %d µs)", ev.text, ev.round_trip_us))
end)

tandem.on("host.ready", function(ev)
  tandem.log.info("demo ready: plugins " .. table.concat(ev.plugins, ", ") .. "; Ctrl-C to stop")
end)
