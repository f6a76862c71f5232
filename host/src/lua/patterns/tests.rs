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
