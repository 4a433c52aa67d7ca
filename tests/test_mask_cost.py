"""scripts/mask_cost.py: the share of evaluation time the masks take, written as a record; bad options are one
line and write nothing."""
import json

import pytest

from tests.conftest import load_script


@pytest.mark.parametrize("args, words", [
    (["--canvases", "0"], "argument --canvases: must be an integer >= 1"),
    (["--repeats", "x"], "argument --repeats: must be an integer >= 1"),
    (["--save", "no-such-folder/mask-cost.json"], "the folder 'no-such-folder' does not exist"),
])
def test_bad_options_are_one_line_and_write_nothing(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        load_script("scripts/mask_cost.py").main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("error: ") and words in err and err.count("\n") == 1
    assert not any(tmp_path.rglob("*"))


@pytest.mark.slow
def test_the_record_says_what_share_of_evaluation_the_masks_take(tmp_path, capsys):
    save = tmp_path / "mask-cost.json"
    assert load_script("scripts/mask_cost.py").main(["--canvases", "64", "--repeats", "1", "--save",
                                                    str(save)]) == 0
    record = json.loads(save.read_text())
    assert record["command"] == f"python scripts/mask_cost.py --canvases 64 --repeats 1 --save {save}"
    assert record["machine"] and record["canvases"] == 64 and record["limit"] == 0.1
    assert all(len(v) == 1 and v[0] > 0 for v in record["seconds"].values())
    assert 0 < record["segmentation_share"] < 1 and record["mask_share"] < 1
    assert record["within_limit"] == (record["mask_share"] <= 0.1)
    assert "of evaluation time" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["mask-cost.json"]        # no temporary file left
