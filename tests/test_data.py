"""Generated agent-step data: determinism, held-out splits, schemas, expected calls, the CLI."""

import hashlib
import json
import re
import typing
from pathlib import Path

import jsonschema
import pytest

from agentroute.cli.main import main
from agentroute.data import BuildConfig, DataBuildError, build_dataset, declines, generate_split
from agentroute.data import phrasing as ph
from agentroute.data.build import DATA_VERSION, allocate, prompt_chars
from agentroute.data.catalogue import DOMAIN_FILES, catalogue, domains
from agentroute.data.catalogue_files import CatalogueError, catalogue_file, read, read_all, vocab
from agentroute.data.catalogue_schema import DomainsFile, Kind, KindsFile, Vocab
from agentroute.data.kinds import FACTORIES, KIND_FILES, kinds
from agentroute.data.kinds_structured import SAMPLERS
from agentroute.data.question_calls import CALCULATORS
from agentroute.data.splits import TEST_DOMAINS, dev_tools
from agentroute.steps.messages import validate_messages
from agentroute.steps.tool_turns import render_tool_messages
from agentroute.steps.tools import normalize_tools

SMALL = BuildConfig(
    seed=1, train=400, dev=80, test=120, length_matched=12, train_length_matched=10, train_question_calls=30
)
LENGTH_MATCHED = ("test_length_matched", "train_length_matched")
EXTRA = (*LENGTH_MATCHED, "train_question_calls")
FILES = ("train.jsonl", "dev.jsonl", "test.jsonl", *(f"{name}.jsonl" for name in EXTRA), "manifest.json")
STEP_KEYS = {"id", "messages", "tools", "step_type", "max_new_tokens", "expected", "domain", "reference", "answer"}
STEP_KEYS |= {"category", "schema_style"}


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("agentsteps")
    return out, build_dataset(out, SMALL)


@pytest.fixture(scope="module")
def splits(built) -> dict[str, list[dict]]:
    out, _ = built
    return {name: _read(out / f"{name}.jsonl") for name in ("train", "dev", "test", *EXTRA)}


def _all_steps(splits) -> list[dict]:
    return [step for steps in splits.values() for step in steps]


def _tool_names(step: dict) -> set[str]:
    """The catalogue names of the tools a step offers or calls (restyled or masked steps: of the
    catalogue tools their descriptions come from)."""
    if step.get("schema_style", "catalogue") != "catalogue":
        return {_source(t["description"]).name for t in step.get("tools", [])}
    names = {t["name"] for t in step.get("tools", [])}
    names |= {c["name"] for c in step.get("expected", {}).get("tool_calls", [])}
    for message in step["messages"]:
        names |= {c["name"] for c in message.get("tool_calls", [])}
        if message["role"] == "tool":
            names.add(message["name"])
    return names


def _source(description: str):
    """The catalogue tool a restyled tool was made from: its description starts with the original."""
    found = [t for t in catalogue() if description.startswith(t.spec["description"].rstrip("."))]
    return max(found, key=lambda t: len(t.spec["description"]))


def test_same_seed_gives_byte_identical_files(built, tmp_path):
    first, _ = built
    build_dataset(tmp_path, SMALL)
    for name in FILES:
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_other_files(built, tmp_path):
    first, _ = built
    build_dataset(
        tmp_path,
        BuildConfig(
            seed=2, train=400, dev=80, test=120, length_matched=12, train_length_matched=10, train_question_calls=30
        ),
    )
    for name in FILES:
        assert (first / name).read_bytes() != (tmp_path / name).read_bytes(), name


def test_split_sizes_are_independent_of_each_other(built, tmp_path):
    first, _ = built
    sizes = {"length_matched": 0, "train_length_matched": 0, "train_question_calls": 0}
    build_dataset(tmp_path, BuildConfig(seed=1, train=7, dev=80, test=120, **sizes))
    for name in ("dev.jsonl", "test.jsonl"):
        assert (first / name).read_bytes() == (tmp_path / name).read_bytes()
    for name in EXTRA:
        assert not (tmp_path / f"{name}.jsonl").exists()
    assert generate_split("train", 7, 1)[0] == _read(tmp_path / "train.jsonl")


def test_manifest_describes_the_files(built):
    out, manifest = built
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["version"] == "agentsteps-v4" and manifest["seed"] == 1
    assert manifest["command"].startswith("agentroute data build --seed 1 --train 400 --dev 80 --test 120")
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"]
    for split, size in (("train", 400), ("dev", 80), ("test", 120)):
        stats = manifest["splits"][split]
        assert stats["count"] == size == sum(stats["step_types"].values())
        assert stats["step_types"] == allocate(size, manifest["step_mix"])
        assert stats["domains"] and stats["tools_offered"]
    assert manifest["holdout"]["test_domains"] == list(TEST_DOMAINS)
    assert manifest["holdout"]["dev_tools"] == list(dev_tools())


def test_test_domains_and_tools_never_appear_in_train(splits):
    test_tools = {t.name for t in catalogue() if t.domain in TEST_DOMAINS}
    held = test_tools | set(dev_tools())
    for step in splits["train"] + splits["train_length_matched"] + splits["train_question_calls"]:
        assert step["domain"] not in TEST_DOMAINS
        assert not _tool_names(step) & held, step["id"]
    for step in splits["test"] + splits["test_length_matched"]:
        assert step["domain"] in TEST_DOMAINS
        assert _tool_names(step) <= test_tools, step["id"]
    for step in splits["dev"]:
        assert step["domain"] not in TEST_DOMAINS
        assert not _tool_names(step) & test_tools
        by_name = {t["name"]: t for t in step.get("tools", [])}
        for call in step.get("expected", {}).get("tool_calls", []):
            restyled = step["schema_style"] != "catalogue"
            assert (_source(by_name[call["name"]]["description"]).name if restyled else call["name"]) in dev_tools()
    assert len(TEST_DOMAINS) / len(domains()) == pytest.approx(0.25)


def test_at_least_100_distinct_tools(splits):
    assert len({t.name for t in catalogue()}) >= 100
    assert len(domains()) >= 20
    offered = {t["name"] for step in _all_steps(splits) for t in step.get("tools", [])}
    assert len(offered) >= 100


def _types(schema: dict, out: set[str]) -> set[str]:
    kind = schema.get("type")
    if "enum" in schema:
        out.add("enum")
    if kind == "array":
        out.add(f"array of {schema['items']['type']}")
        _types(schema["items"], out)
    elif kind == "object":
        for sub in schema.get("properties", {}).values():
            _types(sub, out)
    if kind:
        out.add(kind)
    return out


def test_parameters_use_every_json_type():
    found: set[str] = set()
    for tool in catalogue():
        for schema in tool.spec["parameters"]["properties"].values():
            _types(schema, found)
    expected = {"string", "number", "integer", "boolean", "enum", "object", "array"}
    assert expected | {"array of string", "array of number", "array of object"} <= found
    assert any(tool.spec["parameters"]["required"] for tool in catalogue())
    assert any(
        set(tool.spec["parameters"]["properties"]) - set(tool.spec["parameters"]["required"]) for tool in catalogue()
    )


def test_every_tool_schema_passes_normalize_tools(splits):
    specs = normalize_tools([tool.spec for tool in catalogue()])
    assert len(specs) == len(catalogue())
    for step in _all_steps(splits):
        if "tools" in step:
            assert 1 <= len(normalize_tools(step["tools"])) <= 12, step["id"]


def test_lines_have_the_eval_format(splits):
    for step in _all_steps(splits):
        assert set(step) <= STEP_KEYS, step["id"]
        assert step["step_type"] in ("tool_call", "planning", "reasoning", "final_answer")
        assert isinstance(step["max_new_tokens"], int) and step["max_new_tokens"] >= 64
        assert isinstance(step["domain"], str)
        assert ("expected" in step) == (step["step_type"] == "tool_call")
        validate_messages(step["messages"])
        render_tool_messages(step["messages"], step.get("tools"))
        offered = {t["name"] for t in step.get("tools", [])}
        call_ids = {}
        for message in step["messages"]:
            for call in message.get("tool_calls", []):
                assert message["role"] == "assistant" and call["name"] in offered
                call_ids[call["id"]] = call["name"]
            if message["role"] == "tool":
                assert call_ids[message["tool_call_id"]] == message["name"]
                assert isinstance(message["content"], str) and message["content"].strip()


def test_expected_calls_are_offered_and_valid(splits):
    for step in _all_steps(splits):
        tools = {t["name"]: t for t in step.get("tools", [])}
        for call in step.get("expected", {}).get("tool_calls", []):
            schema = tools[call["name"]]["parameters"]
            jsonschema.validators.validator_for(schema)(schema).validate(call["arguments"])
        for message in step["messages"]:
            for call in message.get("tool_calls", []):
                schema = tools[call["name"]]["parameters"]
                jsonschema.validators.validator_for(schema)(schema).validate(call["arguments"])


def _strings(value, schema):
    """Free-text string values of ``value`` (no enum, no date or time pattern)."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _strings(sub, schema["properties"][key])
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, schema["items"])
    elif isinstance(value, str) and "enum" not in schema and schema.get("pattern", "").find(r"\d{2}") == -1:
        yield value


def test_request_text_carries_every_free_text_argument(splits):
    for step in _all_steps(splits):
        tools = {t["name"]: t for t in step.get("tools", [])}
        said = " ".join(m["content"] for m in step["messages"] if m["role"] == "user").lower()
        for call in step.get("expected", {}).get("tool_calls", []):
            for text in _strings(call["arguments"], tools[call["name"]]["parameters"]):
                assert text.lower() in said, (step["id"], text)


def test_two_call_steps_and_multi_turn_histories_exist(splits):
    train = splits["train"]
    assert any(len(s.get("expected", {}).get("tool_calls", [])) == 2 for s in train)
    multi = [s for s in train if s["step_type"] == "tool_call" and sum(m["role"] == "user" for m in s["messages"]) > 1]
    assert multi
    roles = [m["role"] for m in multi[0]["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_final_answer_steps_end_with_a_tool_result(splits):
    finals = [s for s in _all_steps(splits) if s["step_type"] == "final_answer"]
    assert finals
    for step in finals:
        assert step["messages"][-1]["role"] == "tool"
        assert step["reference"]
        # The gold reply states every result's key fact (packs train final answers on it).
        assert all(fact in step["answer"] for fact in step["reference"].split("; ")), step["id"]


def test_tool_results_come_as_json_lines_and_plain_text(splits):
    """Real tools return bare strings as often as JSON; a model trained on one style misreads the other."""
    results = [m["content"] for s in _all_steps(splits) for m in s["messages"] if m["role"] == "tool"]

    def style(content: str) -> str:
        try:
            return "json" if isinstance(json.loads(content), dict) else "text"
        except json.JSONDecodeError:
            lines = content.splitlines()
            return "lines" if all(re.match(r"[a-z_]+:( |$)|- ", line) for line in lines) else "text"

    counts = {name: sum(style(c) == name for c in results) for name in ("json", "lines", "text")}
    assert all(count >= 0.15 * len(results) for count in counts.values()), counts


def test_final_answers_copy_the_tools_numbers(splits):
    """The gold reply states each number as the tool wrote it (852, not "852.0" or "8,520")."""
    finals = [s for s in _all_steps(splits) if s["step_type"] == "final_answer"]
    numbers_checked = 0
    for step in finals:
        results = " ".join(m["content"] for m in step["messages"] if m["role"] == "tool")
        for number in re.findall(r"(?<![\w.,-])\d+(?:\.\d+)?(?![\w.])", step["reference"]):
            assert number in results, (step["id"], number, results)
            numbers_checked += 1
        assert not re.search(r"\d,\d{3}", step["answer"]), step["answer"]  # no thousands separators
    assert numbers_checked > 10


def test_planning_and_reasoning_steps(splits):
    plans = [s for s in splits["train"] if s["step_type"] == "planning"]
    reasons = [s for s in splits["train"] if s["step_type"] == "reasoning"]
    assert plans and reasons
    assert all("plan" in s["messages"][1]["content"].lower() for s in plans)  # the request asks for it
    assert any("tools" in s for s in plans) and any("tools" not in s for s in plans)
    assert all(s["reference"] for s in reasons)


def test_system_prompts_do_not_give_the_step_type_away(splits):
    # A router trained where the system prompt determines the type keys on it and mistypes an agent
    # whose one system prompt serves every step; so each type also comes with the shared prompts.
    from agentroute.data.queries import AGENT_SYSTEM

    shared = {}
    for step in splits["train"]:
        system = step["messages"][0]["content"]
        if system in AGENT_SYSTEM:
            shared.setdefault(step["step_type"], set()).add(system)
    assert set(shared) == {"tool_call", "planning", "reasoning", "final_answer"}
    assert all(len(prompts) >= len(AGENT_SYSTEM) // 2 for prompts in shared.values()), shared


def test_ids_are_unique(splits):
    ids = [s["id"] for s in _all_steps(splits)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("name", "key", "pairs"),
    [(LENGTH_MATCHED[0], "length_matched", 12), (LENGTH_MATCHED[1], "train_length_matched", 10)],
)
def test_length_matched_pairs(built, splits, name, key, pairs):
    _, manifest = built
    steps = splits[name]
    assert len(steps) == 2 * manifest[key]["pairs"] == 2 * pairs
    for call, plan in zip(steps[::2], steps[1::2], strict=True):
        assert call["id"].removesuffix("-tool_call") == plan["id"].removesuffix("-planning")
        assert (call["step_type"], plan["step_type"]) == ("tool_call", "planning")
        assert call["tools"] == plan["tools"]
        a, b = prompt_chars(call), prompt_chars(plan)
        rendered = [
            sum(len(m["content"]) for m in render_tool_messages(s["messages"], s["tools"])) for s in (call, plan)
        ]
        assert [a, b] == rendered
        assert abs(a - b) / max(a, b) <= 0.10


def test_steps_load_with_the_eval_reader(built):
    steps_module = pytest.importorskip("agentroute.evaluation.steps")
    out, _ = built
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", *(f"{n}.jsonl" for n in EXTRA)):
        steps, problems = steps_module.load_steps(out / name)
        assert not problems, problems[:3]
        assert steps


def test_natural_phrasing():
    assert ph.words(4) == "four" and ph.words(45) == "forty-five" and ph.words(1200) == "one thousand two hundred"
    import random

    rng = random.Random(0)
    said = {ph.say_time(rng, 19, 0) for _ in range(200)}
    assert {"7pm", "19:00", "7:00 pm", "seven in the evening"} <= said
    assert "noon" in {ph.say_time(rng, 12, 0) for _ in range(200)}
    assert "an hour and a half" in {ph.say_minutes(rng, 90) for _ in range(200)}
    assert "2500 grams" in {ph.say_kg(rng, 2.5) for _ in range(200)}


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(DataBuildError, match="train"):
        build_dataset(tmp_path, BuildConfig(train=-1))


def test_cli_builds_data(tmp_path, capsys):
    out = tmp_path / "data"
    argv = ["data", "build", "--seed", "1", "--out", str(out), "--train", "50", "--dev", "10", "--test", "20"]
    assert main([*argv, "--length-matched", "4", "--train-length-matched", "3"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 50, "dev": 10, "test": 20}
    assert len(_read(out / "train.jsonl")) == 50
    assert len(_read(out / "train_length_matched.jsonl")) == 6
    assert "train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["data", "build", "--out", str(out), "--train", "-3"])


def _context() -> dict:
    return {"vocab": vocab(), "samplers": frozenset(SAMPLERS), "kinds": frozenset(kinds())}


# A catalogue file with one mistake -> the field the error names and what it says.
MALFORMED = {
    "domains_home": (
        "put on]\n      required: [song]",
        "put on]\n      required: [songs]",
        "music.actions.play_song.required",
        "'songs'",
    ),
    "domains_work": ("low: 15, high: 120}", "low: '15', high: 120}", "calendar.metric.low", "a number, not '15'"),
    "kinds_text": ("pool: {vocab: cities}", "pool: {vocab: towns}", "city.pool", "no pool 'towns'"),
    "kinds_structured": ("sampler: vehicle,", "sampler: car,", "vehicle.sampler", "no sampler 'car'"),
    "vocab": ("JP, 'NO', ES]", "JP, NO, ES]", "countries.8", "valid string"),  # YAML reads a bare NO as false
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_catalogue_names_the_file_and_the_field(tmp_path, name):
    good, bad, field, message = MALFORMED[name]
    text = catalogue_file(name).read_text(encoding="utf-8")
    assert text.count(good) == 1
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(good, bad), encoding="utf-8")
    model = {"domains": DomainsFile, "kinds": KindsFile, "vocab": Vocab}[name.split("_")[0]]
    assert read(catalogue_file(name), model, _context())
    with pytest.raises(CatalogueError, match="problem") as error:
        read(path, model, _context())
    assert str(error.value).startswith(f"{path}: 1 problem(s):\n  {field}: ")
    assert message in str(error.value)


def test_a_key_given_twice_is_an_error_not_an_overwrite(tmp_path):
    path = tmp_path / "kinds_text.yaml"
    path.write_text("city: {kind: date, desc: Day, templates: ['on {d}']}\n" * 2, encoding="utf-8")
    with pytest.raises(
        CatalogueError, match=rf"(?s)^{re.escape(str(path))}: not valid YAML: key 'city' given twice.*line 2"
    ):
        read(path, KindsFile, _context())


def test_every_template_kind_has_a_factory():
    models = typing.get_args(typing.get_args(Kind)[0])
    assert {typing.get_args(m.model_fields["kind"].annotation)[0] for m in models} == set(FACTORIES)


# What the catalogue files hold, per data version: an edit changes the steps a seed draws, so it comes
# with a new DATA_VERSION (and a line here). An action's `asks` stems are left out: only the
# question-call pairs (a file of their own) read them, never the splits.
CATALOGUE_SHA256 = {
    "agentsteps-v3": "5467dc9510048c82eba1bc815adaacb0696cb950ec1faec319e8fa260b4e1079",
    "agentsteps-v4": "5467dc9510048c82eba1bc815adaacb0696cb950ec1faec319e8fa260b4e1079",  # new builders, same files
}


def test_the_catalogues_belong_to_the_data_version():
    loaded = {
        "vocab": vocab().model_dump(mode="json"),
        **{
            name: {
                key: _without_asks(entry.model_dump(mode="json"))
                for key, entry in read_all(files, model, _context()).items()
            }
            for name, files, model in (("kinds", KIND_FILES, KindsFile), ("domains", DOMAIN_FILES, DomainsFile))
        },
    }
    digest = hashlib.sha256(json.dumps(loaded, ensure_ascii=False).encode("utf-8")).hexdigest()
    assert digest == CATALOGUE_SHA256[DATA_VERSION], f"the catalogues changed ({digest}): bump DATA_VERSION"


def _without_asks(entry: dict) -> dict:
    actions = entry.get("actions")
    if not isinstance(actions, dict):
        return entry
    return {**entry, "actions": {k: {f: v for f, v in a.items() if f != "asks"} for k, a in actions.items()}}


def test_question_call_pairs(built, splits):
    """Each pair: the same system prompt and tools; a question an offered tool answers, with its
    call (arguments valid under the tool's schema), and a reasoning question none answers."""
    _, manifest = built
    steps = splits["train_question_calls"]
    assert len(steps) == 2 * manifest["train_question_calls"]["pairs"] == 60
    kinds = manifest["train_question_calls"]["kinds"]
    assert kinds["lookup"] > 5 and kinds["calculation"] > 5
    held = {t.name for t in catalogue() if t.domain in TEST_DOMAINS} | set(dev_tools())
    calculator_names = {n for names, *_ in CALCULATORS.values() for n in names}
    for call, reasoned in zip(steps[::2], steps[1::2], strict=True):
        assert call["id"].removesuffix("-tool_call") == reasoned["id"].removesuffix("-reasoning")
        assert (call["step_type"], reasoned["step_type"]) == ("tool_call", "reasoning")
        assert call["tools"] == reasoned["tools"] and call["messages"][0] == reasoned["messages"][0]
        assert "?" in call["messages"][-1]["content"] and "expected" not in reasoned
        (expected,) = call["expected"]["tool_calls"]
        spec = next(t for t in call["tools"] if t["name"] == expected["name"])
        jsonschema.validate(expected["arguments"], spec["parameters"])
        offered = {t["name"] for t in call["tools"]}
        assert not offered & held and offered & calculator_names <= {expected["name"]}


def test_v4_steps_teach_each_skill(splits):
    """Data v4: every category present in every split; no-tool-fits steps answer in text; parallel
    steps expect several calls; real-world schemas rename and add unused optional parameters."""
    for name in ("train", "dev", "test"):
        categories = {s["category"] for s in splits[name]}
        assert {"simple", "multiple", "parallel", "multi_turn", "no_tool_fits", "real_world"} <= categories, name
    for step in _all_steps(splits):
        calls = step.get("expected", {}).get("tool_calls")
        if step["category"] == "no_tool_fits":
            assert calls == [] and step["answer"] and "<tool_call>" not in step["answer"]
        elif step["category"] == "parallel":
            assert len(calls) >= 2
        elif step["category"] == "simple":
            assert len(step["tools"]) == 1
        if step["schema_style"] == "real_world":
            for spec in step["tools"]:
                original = _source(spec["description"])
                assert set(spec["parameters"]["properties"]) - set(original.spec["parameters"]["properties"])
                assert spec["name"] != original.name
            for call in calls or []:  # the unused optional parameters stay out of the calls
                spec = next(t for t in step["tools"] if t["name"] == call["name"])
                jsonschema.validate(call["arguments"], spec["parameters"])
    assert {s["schema_style"] for s in splits["train"]} == {"catalogue", "real_world", "masked"}
    assert "masked" not in {s["schema_style"] for s in splits["dev"] + splits["test"]}


def test_a_no_tool_fits_request_never_offers_the_tool_it_needs(splits):
    declines = [s for s in splits["train"] if s["category"] == "no_tool_fits" and "can't" in s["answer"]]
    assert declines
    for step in declines:
        request = step["messages"][-1]["content"]
        assert step["answer"] and request


def test_relative_dates_follow_the_date_the_system_prompt_states():
    import datetime as dt
    import random

    rng = random.Random(0)
    today = dt.date(2026, 3, 11)  # a Wednesday
    said = set()
    with ph.today_is(today):
        for _ in range(400):
            day = ph.random_date(rng)
            text = ph.say_date(rng, day, relative_ok=True)
            said.add(text.split()[0])
            if text == "tomorrow":
                assert day == today + dt.timedelta(days=1)
            if text.startswith("in ") and text.endswith(" days"):
                assert day == today + dt.timedelta(days=int(text.split()[1]))
            if text.startswith("next "):  # only where the coming one is next week's
                assert 0 < (day - today).days < 7 and day.weekday() < today.weekday()
    assert {"tomorrow", "in", "this", "next"} <= said
    assert ph.say_today(today) == "Today is Wednesday, 2026-03-11."


def test_large_numbers_are_said_with_separators_or_in_thousands():
    import random

    rng = random.Random(1)
    forms = {ph.say_int(rng, 329000) for _ in range(60)}
    assert forms == {"329000", "329,000", "329k"}
    assert {ph.say_int(rng, 1500) for _ in range(60)} == {"1500", "1.5k"}
    assert {ph.say_int(rng, 2019) for _ in range(20)} == {"2019"}  # a year: never "2,019"


def test_relative_dates_read_as_users_write_them(splits):
    """A relative date drops the "on"/"for" before it ("tomorrow", not "on tomorrow"), ranges and
    past-tense arguments ("since", "that happened on") are never said relatively, and the test
    split's small talk is its own."""
    texts = [m["content"] for s in _all_steps(splits) for m in s["messages"] if m["role"] == "user"]
    relative = (
        r"(?:tomorrow|the day after tomorrow|in \d+ days|a week from today|this \w+day|next \w+day|\w+day next week)"
    )
    bad = re.compile(rf"\b(?:on|for|since|after|to|from|between) {relative}\b")
    assert not [t for t in texts if bad.search(t)][:3]
    assert sum(bool(re.search(relative, t)) for t in texts) >= 5

    def replies(split):
        return {s["answer"] for s in splits[split] if s["category"] == "no_tool_fits"}

    fixed = {a for _, a in (*declines.GREETINGS, *declines.DEFINITIONS)}
    held = {a for _, a in (*declines.TEST_GREETINGS, *declines.TEST_DEFINITIONS)}
    assert replies("train") & fixed and not replies("train") & held
    assert not replies("test") & fixed
