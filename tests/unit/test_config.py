import argparse

import pytest

from tools import config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:1")
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--threads", type=int, default=4)
    return parser


def test_flag_beats_env_beats_file_beats_default(tmp_path, monkeypatch):
    path = tmp_path / "t.toml"
    path.write_text('[storage-node]\nnode-id = "from-file"\nlisten = "file:1"\nthreads = 9\n')
    args = config.apply(_parser(), ["--config", str(path)], "storage-node")
    assert (args.node_id, args.listen, args.threads) == ("from-file", "file:1", 9)
    monkeypatch.setenv("TESSERA_LISTEN", "env:2")
    monkeypatch.setenv("TESSERA_THREADS", "12")
    args = config.apply(_parser(), ["--config", str(path)], "storage-node")
    assert (args.listen, args.threads) == ("env:2", 12)
    args = config.apply(_parser(), ["--config", str(path), "--listen", "flag:3"], "storage-node")
    assert args.listen == "flag:3"


def test_unknown_setting_is_an_error(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[storage-node]\nnode-id = "n"\nlisen = "typo"\n')
    with pytest.raises(SystemExit):
        config.apply(_parser(), ["--config", str(path)], "storage-node")


def test_sample_config_matches_the_daemons():
    from pathlib import Path

    from gateway import main as gateway_main
    from storage_node import main as node_main

    sample = Path(__file__).resolve().parents[2] / "deploy" / "tessera.toml"
    for section, module in (("storage-node", node_main), ("gateway", gateway_main)):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        args = config.apply(parser, ["--config", str(sample)], section)
        assert args.config == str(sample)
