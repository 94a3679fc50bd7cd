"""umt-predict on a small trained model: JSON lines of entities for posts from the command line or a file, including
an empty post, an emoji-only post and a post far over the length limit."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest

import hub_scripts.predict
from hub_scripts.predict import load_pipeline, main, read_posts

LONG_POST = " ".join(["Kevin Durant and Stephen Curry play in Oakland tonight ."] * 15)
POSTS = [
    {"id": "players", "text": "RT @nba: Kevin Durant enters Oracle Arena with Stephen Curry #NBA", "image": "picture.png"},
    {"id": "no-image", "text": "Angela Merkel meets Emmanuel Macron in Paris"},
    {"id": "missing-image", "text": "Angela Merkel meets Emmanuel Macron in Paris", "image": "missing.jpg"},
    {"id": "empty", "text": ""},
    {"id": "emoji", "text": "😂😂 🙌 🇫🇷"},
    {"id": "long", "text": LONG_POST},
]


@pytest.fixture(scope="module")
def posts_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("posts")
    PIL.Image.new("RGB", (320, 240), (40, 120, 200)).save(folder / "picture.png")
    path = folder / "posts.jsonl"
    path.write_text("".join(json.dumps(post, ensure_ascii=False) + "\n" for post in POSTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def ner(trained_run):
    return load_pipeline(str(trained_run), device="cpu")


def test_umt_predict_tags_a_file_of_posts(trained_run, posts_file, ner):
    command = shutil.which("umt-predict", path=str(Path(sys.executable).parent))
    assert command, "the umt-predict console script is not installed (pip install -e .)"
    completed = subprocess.run(
        [command, "--model", str(trained_run), "--posts_file", str(posts_file), "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["id"] for line in lines] == [post["id"] for post in POSTS]
    assert "tagged 6 posts" in completed.stderr and "missing.jpg is missing" in completed.stderr

    for line, post in zip(lines, POSTS):
        assert line["text"] == post["text"]
        image = str(posts_file.parent / post["image"]) if "image" in post else None
        expected = ner({"text": post["text"], "image": image})
        assert line["entities"] == [{**e, "score": pytest.approx(e["score"], abs=1e-5)} for e in expected]
        for entity in line["entities"]:
            assert set(entity) == {"entity_group", "score", "word", "start", "end"}
            assert post["text"][entity["start"] : entity["end"]] == entity["word"] and 0 < entity["score"] <= 1
    by_id = {line["id"]: line for line in lines}
    assert by_id["empty"]["entities"] == []
    assert ner.processor(LONG_POST, return_windows=True)["input_ids"].shape[0] > 1  # the long post needs windows
    assert by_id["long"]["entities"], "the trained model finds no entity in 15 repetitions of two player names"
    assert max(entity["end"] for entity in by_id["long"]["entities"]) > len(LONG_POST) // 2  # tagged past window 1


def test_one_post_from_the_command_line(ner, posts_file, capsys, monkeypatch):
    monkeypatch.setattr(hub_scripts.predict, "load_pipeline", lambda model, device: ner)
    picture = str(posts_file.parent / "picture.png")
    main(["--model", "trained-run", "--text", POSTS[0]["text"], "--image", picture])
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "id": "1", "text": POSTS[0]["text"], "entities": ner({"text": POSTS[0]["text"], "image": picture})
    }  # fmt: skip


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "give either --text (with an optional --image) or --posts_file"),
        (["--text", "hi", "--posts_file", "posts.jsonl"], "give either --text"),
        (["--posts_file", "posts.jsonl", "--image", "a.jpg"], "--image goes with --text"),
        (["--text", "hi", "--image", "/no/such/picture.jpg"], "no image file /no/such/picture.jpg"),
        (["--posts_file", "/no/such/posts.jsonl"], "no posts file /no/such/posts.jsonl"),
    ],
)
def test_bad_arguments_give_a_message(arguments, message):
    with pytest.raises(SystemExit, match="^umt-predict: " + re.escape(message)):
        main(["--model", "unused", *arguments])


def test_posts_file_formats(tmp_path):
    text_file = tmp_path / "posts.txt"
    text_file.write_text("first post\n\nthird post\n", encoding="utf-8")
    assert [(post.id, post.text, post.image) for post in read_posts(text_file)] == [
        ("1", "first post", None), ("2", "", None), ("3", "third post", None)
    ]  # fmt: skip
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no text"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match='bad.jsonl, line 2: each line needs a "text" string'):
        list(read_posts(bad))
