//! The replacement functions against stock Lua's, side by side.
//!
//! Every case is a Lua expression evaluated in a plain `mlua::Lua::new()`
//! state (Lua's own C functions) and in a sandboxed state (ours), with the
//! same chunk name, so results and error messages (with their `file:line`
//! prefix) must be byte for byte the same.

use mlua::Lua;

use super::super::sandbox;

/// Defined in both states: how results are written down for comparison.
const HARNESS: &str = r##"
local format, concat, pack, unpack, select, type, tostring =
  string.format, table.concat, table.pack, table.unpack, select, type, tostring
local function q(v)
  local t = type(v)
  if t == "string" then return format("%q", v) end
  if t == "number" then return math.type(v) .. ":" .. format("%q", v) end
  if t == "nil" or t == "boolean" then return tostring(v) end
  return t
end
function show(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = q((select(i, ...))) end
  return n .. "|" .. concat(out, ",")
end
-- Every step of a gmatch iterator, at most `limit`.
function collect(f, limit)
  local all = {}
  for _ = 1, limit or 64 do
    local r = pack(f())
    all[#all + 1] = show(unpack(r, 1, r.n))
    if r.n == 0 or r[1] == nil then break end
  end
  return concat(all, ";")
end
"##;

struct Pair {
    stock: Lua,
    ours: Lua,
}

impl Pair {
    fn new() -> Pair {
        let stock = Lua::new();
        let (ours, _budget) = sandbox::new_state(u64::MAX / 4, 256 << 20).unwrap();
        for lua in [&stock, &ours] {
            lua.load(HARNESS).set_name("=harness").exec().unwrap();
        }
        Pair { stock, ours }
    }

    /// `expr` in both states: (stock, ours).
    fn eval(&self, expr: &str) -> (String, String) {
        let chunk = format!("return show(pcall(function() return {expr} end))");
        let run = |lua: &Lua| -> String {
            lua.load(&chunk)
                .set_name("=case")
                .eval::<mlua::LuaString>()
                .map(|s| s.to_string_lossy())
                .unwrap_or_else(|e| format!("harness failure: {e}"))
        };
        (run(&self.stock), run(&self.ours))
    }

    /// Checks every expression; panics listing all that differ.
    fn check_all(&self, exprs: &[String]) -> usize {
        let mut differ = Vec::new();
        for expr in exprs {
            let (stock, ours) = self.eval(expr);
            if stock != ours {
                differ.push(format!("{expr}\n    stock: {stock}\n    ours:  {ours}"));
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {} cases differ:\n{}",
            differ.len(),
            exprs.len(),
            differ.join("\n")
        );
        exprs.len()
    }
}

/// `bytes` as a Lua string literal.
fn lit(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Replacements for gsub, as Lua expressions.
const REPLACEMENTS: &[&str] = &[
    r#""<%0>""#,
    r#""[%1]""#,
    r#""%2%1""#,
    r#""%%""#,
    r#""%""#,
    r#""%x""#,
    r#""""#,
    "7",
    "{a = 'A', b = false, ['()'] = 1.5, [1] = 'one', x = {}}",
    "function(...) return select('#', ...) .. ':' .. table.concat({...}, '|') end",
    "function(c) if c == 'a' then return nil elseif c == 'b' then return false end return 42 end",
    "function() return {} end",
    "true",
];

/// Subjects and patterns every function is tried with.
const SUBJECTS: &[&[u8]] = &[
    b"",
    b"a",
    b"hello world",
    b"  padded  text\t\n",
    b"alice@example.org/phone",
    b"sip:bob@example.org;transport=tcp",
    b"f(a(b)c)d (e) ((x)",
    b"THE (quick) fox",
    b"aaa bbb aaa",
    b"key = value, other=2",
    b"\x00a\x00b\xffz",
    b"caf\xc3\xa9 \xe2\x82\xac 3.14",
    b"[x]^$%-.*+?",
    b"abab cdcd abab",
    b"  ",
];

const PATTERNS: &[&[u8]] = &[
    b"",
    b"a",
    b"^a",
    b"a$",
    b"^$",
    b"$",
    b"^",
    b".",
    b"..",
    b"%a+",
    b"%A+",
    b"%d+",
    b"%D",
    b"%s*",
    b"%S+",
    b"%l+",
    b"%u+",
    b"%w+",
    b"%W",
    b"%x+",
    b"%p",
    b"%P+",
    b"%c",
    b"%C+",
    b"%g+",
    b"%G",
    b"[aeiou]",
    b"[^aeiou ]+",
    b"[a-f]+",
    b"[%a_][%w_]*",
    b"[]]",
    b"[^]]+",
    b"[a-]",
    b"[%-%.]",
    b"[%]]",
    b"a*",
    b"a-",
    b"a?",
    b"a+",
    b"a-b",
    b".-",
    b".*",
    b"(a)",
    b"(a*(.)%w(%s*))",
    b"()",
    b"()a()",
    b"(h)(e)(l)(l)(o)",
    b"^([^@]+)@([^/]+)",
    b"^sip:([^@;]+)@?([^;]*)",
    b"(%w+)=(%w+)",
    b"(%w+)%s*=%s*(%w+)",
    b"%b()",
    b"%b[]",
    b"%bxy",
    b"%baa",
    b"%f[%a]%a+",
    b"%f[%A]",
    b"%f[%w]%w+%f[%W]",
    b"%f[%z]",
    b"%f[^%z]",
    b"(a)%1",
    b"(ab)%1",
    b"(.)%1",
    b"()%1",
    b"(%w+) %1",
    b"%.",
    b"%%",
    b"%z",
    b"%^",
    b"x^",
    b"$a",
    b"a$b",
    b"\x00",
    b"[\x00-\x10]",
    b"\xff",
    b"[\x80-\xff]+",
    // Malformed, or malformed once reached.
    b"%",
    b"a%",
    b"[a",
    b"[",
    b"[^",
    b"[a%",
    b"%b",
    b"%ba",
    b"%f",
    b"%fa",
    b"%f[a",
    b"(",
    b"(a",
    b")",
    b"a)",
    b"(()",
    b"%0",
    b"%1",
    b"(a)%2",
    b"(a%1)",
    b"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))",
    b"((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))",
];

fn handwritten() -> Vec<String> {
    let mut cases = Vec::new();
    for s in SUBJECTS {
        for p in PATTERNS {
            let (s, p) = (lit(s), lit(p));
            cases.push(format!("string.find({s}, {p})"));
            cases.push(format!("string.match({s}, {p})"));
            cases.push(format!("collect(string.gmatch({s}, {p}))"));
            cases.push(format!("string.gsub({s}, {p}, \"<%0>\")"));
        }
    }
    // Every replacement kind against a few patterns.
    for s in [&b"abc abc"[..], b"", b"a()b", b"hello world from lua"] {
        for p in [
            &b"a"[..],
            b"(%w+)",
            b"(b)(c)",
            b"()",
            b"",
            b"^a",
            b"%w",
            b"(x)?",
        ] {
            for r in REPLACEMENTS {
                cases.push(format!("string.gsub({}, {}, {r})", lit(s), lit(p)));
            }
        }
    }
    // init for find, match and gmatch; plain find.
    for init in [
        "nil",
        "1",
        "2",
        "0",
        "-1",
        "-3",
        "-100",
        "4",
        "5",
        "6",
        "100",
        "math.maxinteger",
        "math.mininteger",
        "2.0",
        "'2'",
        "1.5",
        "{}",
    ] {
        for p in ["", "b", "^b", "b*", "()", ".", "%", "a.c", "c$"] {
            let p = lit(p.as_bytes());
            cases.push(format!("string.find('abcab', {p}, {init})"));
            cases.push(format!("string.find('abcab', {p}, {init}, true)"));
            cases.push(format!("string.match('abcab', {p}, {init})"));
            cases.push(format!("collect(string.gmatch('abcab', {p}, {init}))"));
        }
    }
    // gsub's n.
    for n in [
        "nil", "0", "1", "2", "-1", "100", "2.0", "'1'", "1.5", "'x'",
    ] {
        for p in ["a", "", "^a", "a*", "x"] {
            cases.push(format!(
                "string.gsub('aaa bab', {}, '-', {n})",
                lit(p.as_bytes())
            ));
        }
    }
    // The empty match right after a match (5.4 rule), anchors in gmatch
    // and gsub, position captures in replacements.
    cases.extend(
        [
            "string.gsub('hello world', 'o*', '-')",
            "string.gsub('abc', '%w*', '-')",
            "string.gsub('abc', '', '-')",
            "string.gsub('', '', '-')",
            "string.gsub('abc', '^', '>')",
            "string.gsub('abc', '$', '<')",
            "string.gsub('abc', '^$', '!')",
            "string.gsub('', '^$', '!')",
            "string.gsub('aaa', '^a', 'b')",
            "string.gsub('aaa', '^a*', 'b')",
            "string.gsub('abc', '()', '%1')",
            "string.gsub('abc', '()b()', '%2%1')",
            "string.gsub('abc', 'b', '%1')",
            "string.gsub('abc', '(b)', '%0%1%%')",
            "string.gsub('abc', '(b', '%1')",
            "string.gsub('abc', '(b', function(x) return x end)",
            "string.gsub('abc', '(b', {})",
            "string.gsub('abc', '(b', 'x')",
            "collect(string.gmatch('^a^a', '^a'))",
            "collect(string.gmatch('abc', '^'))",
            "collect(string.gmatch('abc', '$'))",
            "collect(string.gmatch('abc', '.-'))",
            "collect(string.gmatch('abc', 'x*'))",
            "collect(string.gmatch('a,b,,c', '([^,]*)'))",
            "collect(string.gmatch('key=val k2=v2', '(%w+)=(%w+)'))",
            "collect(string.gmatch('abc', '()'))",
            "collect(string.gmatch('abc', '(a'))",
            "collect(string.gmatch('abc', '%'))",
            "collect(string.gmatch('', ''))",
            "collect(string.gmatch('abc', '', 10))",
            "collect(string.gmatch('abc', '()', 4))",
            "collect(string.gmatch('abc', '()', -1))",
            "collect(string.gmatch('THE (quick) fox', '%f[%a]%a+'))",
            "collect(string.gmatch('x', '%f[x]'))",
            "string.find('', '')",
            "string.find('', '', 1)",
            "string.find('', '', 2)",
            "string.find('', '$')",
            "string.find('', '^$')",
            "string.find('', '.')",
            "string.find('', '%f[%a]')",
            "string.find('a', '%f[%z]')",
            "string.find('a', '%f[%Z]')",
            "string.find('a', 'a%f[%z]')",
            "string.find('a', 'a%f[^%z]')",
            "string.find('(', '%b()')",
            "string.find('(()', '%b()')",
            "string.find(')(', '%b()')",
            "string.find('aXa', '%baa')",
            "string.find('a', '%ba')",
            "string.find('hello', 'l', 1, true)",
            "string.find('a.b', '.', 1, true)",
            "string.find('a.b', '.', 2, 1)",
            "string.find('a.b', '.', 2, false)",
            "string.find('a+b', '+', 1, 'yes')",
            "string.find('x)y', ')')",
            "string.find('x)y', 'x)')",
            "string.find('x]y', ']')",
            "string.find(12345, 34)",
            "string.find(12345, 3.0)",
            "string.match(1.5, '%d')",
            "string.gsub(123, 2, 9)",
            "string.gsub('abc', 'b', 1.5)",
            "string.gsub('abc', '%w', {a = 1, b = 2.5})",
            "string.gsub('abc', '%w', setmetatable({}, {__index = function(_, k) return k:upper() end}))",
            "string.gsub('abc', '%w', setmetatable({}, {__name = 'Thing'}))",
            "string.gsub('abc', '%w', function(c) error('in repl ' .. c) end)",
            "string.gsub('abc', '%w', function(c) return c, 'ignored' end)",
            "string.gsub('a b', '(%w)', '%1%1', 1)",
            "string.gsub('hello world', '(o)', string.upper)",
            "string.gsub('hello', '', '%0')",
            "string.gsub('abc', '.', {a = true})",
            "string.gsub('abc', 'b', '%')",
            "string.gsub('abc', 'x', '%')",
            "string.gsub('abc', 'b', '%9')",
            "string.gsub('abc', '(b)', '%2')",
            "string.gsub('abc', 'b', '%0%1')",
            "string.match('  trim me  ', '^%s*(.-)%s*$')",
            "string.match('2024-05-06', '(%d+)-(%d+)-(%d+)')",
            "string.match('[[nested]]', '%[(%b[])%]')",
            "string.match('hello', '()ll()')",
            "string.match('hello', '(h)(e)(l)(l)(o)()')",
            "string.match('aaa', '(a+)(a+)')",
            "string.match('aaa', '(a-)(a+)')",
            "string.match('aaa', '(a?)(a?)(a?)(a?)')",
            "string.match('abcabc', '(a(b)(c))%1')",
            "string.match('abcabc', '(a(b)(c))%2')",
            "string.match('abab', '(a)(b)%2%1')",
            "string.match('aa', '(a)%1%1')",
            "string.match('xyz', '(x)(y)%3')",
            "string.match('x', '(x%1)')",
            "string.match('a', '((a)')",
            "string.match('aa', '(a)(%1')",
            "string.match(('x'):rep(40), ('(x)'):rep(32))",
            "string.match(('x'):rep(40), ('(x)'):rep(33))",
            "string.match(('a'):rep(199), ('a?'):rep(199))",
            "string.match(('a'):rep(200), ('a?'):rep(200))",
            "string.match(('a'):rep(300), ('a?'):rep(300))",
            "string.match(('a'):rep(300), ('(a)'):rep(30))",
            "string.find(('a'):rep(1000), '.-b')",
            "string.find(('ab'):rep(500), '(ab)%1%1%1%1$')",
            "('abc'):find('b')",
            "('abc'):match('(b)(c)')",
            "('abc'):gsub('b', 'x')",
            "collect(('a b c'):gmatch('%a'))",
            "string.find()",
            "string.find('a')",
            "string.find(nil, 'a')",
            "string.find({}, 'a')",
            "string.find('a', {})",
            "string.match('a')",
            "string.gmatch('a')",
            "string.gmatch('a', 'a', 'x')",
            "string.gsub('a', 'a')",
            "string.gsub('a', 'a', nil)",
            "string.gsub('a', 'a', true)",
            "string.gsub('a', 'a', 'x', 'y')",
            "string.gsub('a', 'a', 'x', 1.5)",
            "string.gsub(nil, 'a', 'x', 'y')",
            "('a'):gsub()",
            "pcall(string.find, 'a', '%')",
            "pcall(string.gsub, 'a', 'a', '%')",
            "select('#', string.gmatch('a', 'b')())",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    cases
}

#[test]
fn handwritten_cases_behave_as_stock_lua() {
    let pair = Pair::new();
    let n = pair.check_all(&handwritten());
    assert!(n > 5000, "{n} cases");
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Pattern pieces, valid or not, over the subjects' small alphabet.
const PIECES: &[&str] = &[
    "a", "b", "a", "b", "(", ")", ".", "%a", "%A", "%s", "[ab]", "[^a]", "[a-b]", "[%s(]", "%b()",
    "%bab", "%f[a]", "%f[^a]", "%f[%s]", "()", "%1", "%2", "^", "$", "*", "+", "-", "?", "%", "[",
    "]", "%(", "%)", " ", "\\0",
];

const ALPHABET: &[u8] = b"aab() \0";

fn random_case(rng: &mut Rng) -> String {
    let subject: Vec<u8> = (0..rng.below(10)).map(|_| *rng.pick(ALPHABET)).collect();
    let mut pattern = String::new();
    for _ in 0..rng.below(6) {
        let piece: &&str = rng.pick(PIECES);
        pattern.push_str(piece);
    }
    let (s, p) = (lit(&subject), format!("\"{pattern}\""));
    let init = rng.below(16) as i64 - 6;
    match rng.below(5) {
        0 => format!("string.find({s}, {p}, {init})"),
        1 => format!("string.find({s}, {p})"),
        2 => format!("string.match({s}, {p}, {init})"),
        3 => format!("collect(string.gmatch({s}, {p}, {init}))"),
        _ => {
            let repl = rng.pick(REPLACEMENTS);
            match rng.below(3) {
                0 => format!("string.gsub({s}, {p}, {repl}, {})", rng.below(4)),
                _ => format!("string.gsub({s}, {p}, {repl})"),
            }
        }
    }
}

#[test]
fn random_small_patterns_behave_as_stock_lua() {
    let pair = Pair::new();
    let mut rng = Rng(0x7a6e_6463_5eed_0001);
    let cases: Vec<String> = (0..20_000).map(|_| random_case(&mut rng)).collect();
    pair.check_all(&cases);
}

#[test]
fn a_runaway_pattern_is_stopped_by_the_budget_and_pcall_cannot_catch_it() {
    for call in [
        "string.find(s, '.-.-.-.-x')",
        "s:match('.-.-.-.-x')",
        "s:gsub('.-.-.-.-x', '')",
        "s:gmatch('.-.-.-.-x')()",
        "pcall(string.find, s, '.-.-.-.-x')",
    ] {
        let (lua, budget) = sandbox::new_state(100_000, 16 << 20).unwrap();
        let src = format!(
            "local s = ('a'):rep(5000)\nlocal r = {{pcall(function()\n  local r = {{ {call} }}\nend)}}\nreturn 'not stopped'"
        );
        let err = lua
            .load(&src)
            .set_name("=rule.lua")
            .exec()
            .expect_err(call)
            .to_string();
        assert!(
            err.contains("instruction budget of 100000 exceeded"),
            "{call}: {err}"
        );
        assert_eq!(
            budget.exhausted_at().as_deref(),
            Some("rule.lua:3"),
            "{call}"
        );
    }
}

#[test]
fn pattern_work_is_charged_to_the_budget() {
    let (lua, budget) = sandbox::new_state(1_000_000, 16 << 20).unwrap();
    budget.reset();
    let before = budget.remaining();
    let n: i64 = lua
        .load("local s = ('ab'):rep(200) local _, n = s:gsub('(a)(b)', '%2%1') return n")
        .eval()
        .unwrap();
    assert_eq!(n, 200);
    // Far fewer than 1000 VM instructions ran: what was charged is the
    // matcher's work, at least a step per byte of the subject.
    assert!(
        before - budget.remaining() >= 400,
        "{}",
        before - budget.remaining()
    );
}

// What follows is about soundness rather than results: the functions are
// raw C functions that Lua may leave by `longjmp` (errors in arguments,
// replacements, memory, the budget) or enter again (finalizers run by an
// allocation in the middle of theirs). Under the debug build Lua checks
// its API use (LUA_USE_APICHECK); run them under valgrind for the rest.

/// `src`, run as the chunk `=rule.lua` in `lua`: its one string result.
fn run(lua: &Lua, src: &str) -> mlua::Result<String> {
    lua.load(src).set_name("=rule.lua").eval::<String>()
}

/// Memory in use once everything unreachable is collected.
fn settled_memory(lua: &Lua) -> usize {
    lua.gc_collect().unwrap();
    lua.gc_collect().unwrap();
    lua.used_memory()
}

#[test]
fn errors_raised_inside_gsub_leave_the_state_sound() {
    let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 64 << 20).unwrap();
    // Each error is raised with the buffer holding more than its own
    // storage (8000 bytes of subject), then the same again many times: a
    // buffer, a stack slot or a capture left behind would show as growth.
    let src = r#"
local s = ('abc '):rep(2000)
local function after(n, f)
  local i = 0
  return function(...) i = i + 1 if i % n == 0 then return f(...) end return (...):upper() end
end
local t = {}
local cases = {
  {after(1500, function() error(t) end), function(e) return e == t end},
  {after(1500, function() error('boom') end), function(e) return e == 'rule.lua:10: boom' end},
  {after(1, function() error() end), function(e) return e == nil end},
  {after(1500, function() return {} end), function(e) return e:find('invalid replacement value %(a table%)') end},
  {after(1500, function() return s:gsub('%w+', '%9') end), function(e) return e:find('invalid capture index %%9') end},
  {after(1500, function() return s:find('(') end), function(e) return e:find('unfinished capture') end},
  {setmetatable({}, {__index = function() error('from __index') end}), function(e) return e:find('from __index') end},
}
for round = 1, 50 do
  for i, case in ipairs(cases) do
    local ok, e = pcall(string.gsub, s, '%w+', case[1])
    if ok or not case[2](e) then return 'case ' .. i .. ': ' .. tostring(e) end
  end
end
return (s:sub(1, 12):gsub('%w+', after(2, function() return 'x' end)))
"#;
    assert_eq!(run(&lua, src).unwrap(), "ABC x ABC ");
    let before = settled_memory(&lua);
    run(&lua, src).unwrap();
    let after = settled_memory(&lua);
    assert!(after <= before + 4096, "{before} -> {after}");
}

#[test]
fn a_replacement_cannot_yield_but_may_run_coroutines_of_its_own() {
    let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 64 << 20).unwrap();
    // A yield would leave gsub's frame behind with the coroutine: Lua
    // refuses it, as it does for its own gsub.
    let err = run(
        &lua,
        "local co = coroutine.create(function() return ('abc'):gsub('.', coroutine.yield) end)\n\
         local ok, e = coroutine.resume(co)\n\
         return tostring(ok) .. ' ' .. e .. ' ' .. coroutine.status(co)",
    )
    .unwrap();
    assert_eq!(err, "false attempt to yield across a C-call boundary dead");
    // The same from a gmatch iterator's loop body is fine: it is Lua code.
    let fine = run(
        &lua,
        "local co = coroutine.wrap(function()\n\
           for w in ('a b c'):gmatch('%a') do coroutine.yield(w) end\n\
           return 'end'\n\
         end)\n\
         local seen = {}\n\
         for i = 1, 4 do seen[i] = co() end\n\
         local inner = ('abc'):gsub('.', function(c)\n\
           return coroutine.wrap(function() coroutine.yield(c:upper()) end)()\n\
         end)\n\
         return table.concat(seen) .. ' ' .. inner",
    )
    .unwrap();
    assert_eq!(fine, "abcend ABC");
}

#[test]
fn a_budget_spent_inside_or_under_a_pattern_function_stays_spent() {
    for (what, line, src) in [
        // The matcher's own steps, with a full buffer behind it.
        ("matcher", 2, "local s = ('ab '):rep(40000)\nlocal ok, e = pcall(string.gsub, s, '%w+', '%0%0')"),
        // The hook, inside the replacement function gsub called.
        ("function", 2, "local s = ('ab '):rep(400)\nlocal ok, e = pcall(string.gsub, s, '%w+', function() while true do end end)"),
        // The hook, inside an __index of a replacement table.
        ("table", 1, "local t = setmetatable({}, {__index = function() while true do end end})\nlocal ok, e = pcall(string.gsub, 'ab', '%w', t)"),
        // The matcher of a nested call.
        ("nested", 2, "local s = ('a'):rep(5000)\nlocal ok, e = pcall(string.gsub, 'ab', '%w', function() return s:find('.-.-.-x') end)"),
        // A gmatch iterator in a loop.
        ("gmatch", 2, "local s = ('ab '):rep(40000)\nfor w in s:gmatch('%w+') do end"),
    ] {
        let (lua, budget) = sandbox::new_state(100_000, 64 << 20).unwrap();
        let err = lua.load(src).set_name("=rule.lua").exec().expect_err(what);
        assert!(
            err.to_string().contains("instruction budget of 100000 exceeded"),
            "{what}: {err}"
        );
        assert_eq!(
            budget.exhausted_at(),
            Some(format!("rule.lua:{line}")),
            "{what}"
        );
        assert_eq!(budget.remaining(), 0, "{what}");
        // Spent means spent: the next search fails at its first step.
        let again = lua
            .load("return pcall(string.find, 'ab', 'a.')")
            .exec()
            .expect_err(what);
        assert!(again.to_string().contains("instruction budget"), "{what}");
    }
}

#[test]
fn results_beyond_the_memory_limit_are_errors_and_leave_the_state_sound() {
    let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 0).unwrap();
    lua.set_memory_limit(settled_memory(&lua) + (2 << 20))
        .unwrap();
    let src = r#"
local s = ('x'):rep(300000)
local big = ('y'):rep(100000)
local cases = {
  -- gsub's buffer grows past the limit.
  function() return s:gsub('x', 'yyyyyyyyyy') end,
  function() return s:gsub('x+', function(m) return m .. m .. m .. m .. m .. m .. m end) end,
  function() return s:gsub('x', {x = big}) end,
  -- Pushing captures: each a copy of the whole subject.
  function() return s:match(('('):rep(32) .. '.*' .. (')'):rep(32)) end,
  function() return s:find(('('):rep(32) .. '.*' .. (')'):rep(32)) end,
  function() return s:gmatch(('('):rep(32) .. '.*' .. (')'):rep(32))() end,
  -- Captures passed to a replacement function.
  function() return s:gsub(('('):rep(32) .. '.*' .. (')'):rep(32), print) end,
}
local out = {}
for i, f in ipairs(cases) do
  local ok, e = pcall(f)
  out[i] = tostring(ok) .. ':' .. tostring(e):gsub('^.-: ', '')
end
return table.concat(out, ' ') .. ' | ' .. (('abc'):gsub('b', 'B'))
"#;
    let before = settled_memory(&lua);
    let out = run(&lua, src).unwrap();
    let (results, after) = out.split_once(" | ").unwrap();
    assert_eq!(
        results.matches("false:not enough memory").count(),
        7,
        "{out}"
    );
    assert_eq!(after, "aBc", "{out}");
    let after = settled_memory(&lua);
    assert!(after <= before + 4096, "{before} -> {after}");
}

#[test]
fn a_gmatch_iterator_keeps_what_it_needs() {
    let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 64 << 20).unwrap();
    // The subject and pattern are made at run time and referenced by
    // nothing but the iterator; a full collection must not free them.
    let it: mlua::Function = lua
        .load("local a, b = ('x'):rep(40), ('%a'):rep(2) return string.gmatch(a .. 'ab,cd', '(' .. b .. ')()')")
        .eval()
        .unwrap();
    settled_memory(&lua);
    let mut seen = Vec::new();
    while let (Some(word), position) = it.call::<(Option<String>, Option<i64>)>(()).unwrap() {
        seen.push(format!("{word}@{}", position.unwrap()));
    }
    assert_eq!(seen.len(), 22);
    assert_eq!(seen[21], "cd@46");
    // Finished stays finished; arguments are ignored.
    assert_eq!(it.call::<Option<String>>((1, 2, 3)).unwrap(), None);
    // A number subject is converted once, for the iterator's whole life.
    let digits = run(
        &lua,
        "local out = {} for d in string.gmatch(1234567, '%d%d') do out[#out + 1] = d end return table.concat(out, ',')",
    )
    .unwrap();
    assert_eq!(digits, "12,34,56");
    // An error leaves the iterator where it was, and it can be called
    // again, from another coroutine, after its own has died.
    let after = run(
        &lua,
        "local it = coroutine.wrap(function() return ('aaa'):gmatch('a[') end)()\n\
         local e1 = select(2, pcall(it))\n\
         local e2 = select(2, coroutine.wrap(function() return pcall(it) end)())\n\
         return e1 .. ' / ' .. e2",
    )
    .unwrap();
    assert_eq!(
        after,
        "malformed pattern (missing ']') / malformed pattern (missing ']')"
    );
}

#[test]
fn finalizers_running_in_the_middle_of_a_pattern_function_do_not_disturb_it() {
    let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 64 << 20).unwrap();
    // Collect all the time, so that finalizers run at the allocations of
    // pushes and buffers inside the functions, and call them again: the
    // same gmatch iterator, a gsub with a function, a find.
    lua.gc_set_mode(mlua::state::GcMode::Incremental(
        mlua::state::GcIncParams::default()
            .pause(100)
            .step_multiplier(1000),
    ));
    // The sandbox refuses `__gc` to rules (a finalizer runs without
    // hooks, so the budget cannot stop it); the harness sets it from Rust.
    let with_gc = lua
        .create_function(|_, (t, mt): (mlua::Table, mlua::Table)| t.set_metatable(Some(mt)))
        .unwrap();
    lua.globals().set("with_gc", with_gc).unwrap();
    let out = run(
        &lua,
        r#"
local s = ('ab'):rep(3000)
local shared = s:gmatch('a(b)')
local ran, wrong = 0, 0
local mt = {__gc = function()
  ran = ran + 1
  shared()
  local r = ('xyz'):rep(20):gsub('y', function(c) return c:upper() end)
  if r ~= ('xYz'):rep(20) then wrong = wrong + 1 end
  if select(2, s:find('(b)(a)', 1000)) ~= 1001 then wrong = wrong + 1 end
end}
local total = 0
for round = 1, 20 do
  local r, n = s:gsub('(a)(b)', function(a, b)
    with_gc({}, mt)
    return b .. a
  end)
  if r ~= ('ba'):rep(3000) or n ~= 3000 then return 'gsub wrong at ' .. round end
  for a, b in s:gmatch('(a)(b)') do
    with_gc({}, mt)
    if a ~= 'a' or b ~= 'b' then return 'gmatch wrong at ' .. round end
    total = total + 1
  end
end
return ran .. ' ' .. wrong .. ' ' .. total
"#,
    )
    .unwrap();
    let mut parts = out.split(' ');
    let ran: u32 = parts.next().unwrap().parse().unwrap();
    assert!(ran > 1000, "{out}");
    assert_eq!(parts.next(), Some("0"), "{out}");
    assert_eq!(parts.next(), Some("60000"), "{out}");
}

#[test]
fn nested_replacements_stop_at_lua_s_c_stack_limit() {
    // Each level is a gsub frame (with its buffer) under a Lua call; at
    // the deepest, a matcher recursing as far as it may. Lua's C-call
    // limit must come first, on a thread with the default 2 MiB stack
    // (the engine's thread has that too).
    let deep = "a?".repeat(190);
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let (lua, _budget) = sandbox::new_state(u64::MAX / 4, 64 << 20).unwrap();
            lua.globals().set("deep", deep).unwrap();
            run(
                &lua,
                "local depth = 0\n\
                 local function f(c)\n\
                   depth = depth + 1\n\
                   ('a'):rep(190):find(deep)\n\
                   return (c .. c):gsub('.', f)\n\
                 end\n\
                 local ok, e = pcall(f, 'x')\n\
                 return tostring(ok) .. ' ' .. depth .. ' ' .. e",
            )
            .unwrap()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(out.starts_with("false "), "{out}");
    assert!(out.contains("stack overflow"), "{out}");
}
