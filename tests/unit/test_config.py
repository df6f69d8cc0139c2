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
    from tools import host_node

    sample = Path(__file__).resolve().parents[2] / "deploy" / "tessera.toml"
    sections = (("storage-node", node_main), ("gateway", gateway_main), ("node", host_node))
    for section, module in sections:
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        args = config.apply(parser, ["--config", str(sample)], section)
        assert args.config == str(sample)
    # `tessera node` runs both daemons from the file, the gateway told the node's id.
    daemons = host_node.children(args)
    assert [d.name for d in daemons] == ["storage-node", "gateway"]
    assert daemons[1].argv[-2:] == ["--local-node", "host1"]
    assert daemons[0].env["TESSERA_TLS_CERT"] == "/etc/tessera/tls/host1.crt"


def _gateway_args(argv: list[str]) -> argparse.Namespace:
    from gateway import main as gateway_main

    parser = argparse.ArgumentParser()
    gateway_main.add_arguments(parser)
    return config.apply(parser, argv, "gateway")


def test_gateway_domains_from_flags_env_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TESSERA_DOMAIN", raising=False)
    assert _gateway_args([]).domain == []
    args = _gateway_args(["--domain", "S3.A.com", "--domain", "b.com:9000, c.com."])
    assert args.domain == ["s3.a.com", "b.com", "c.com"]
    path = tmp_path / "t.toml"
    path.write_text('[gateway]\ndomain = ["file.com"]\n')
    assert _gateway_args(["--config", str(path)]).domain == ["file.com"]
    monkeypatch.setenv("TESSERA_DOMAIN", "env.com,other.com")
    assert _gateway_args(["--config", str(path)]).domain == ["env.com", "other.com"]
    # A flag replaces the environment's list rather than adding to it.
    assert _gateway_args(["--domain", "flag.com"]).domain == ["flag.com"]


def test_boolean_flags_from_env(monkeypatch):
    monkeypatch.delenv("TESSERA_TRUST_PROXY", raising=False)
    assert _gateway_args([]).trust_proxy is False
    assert _gateway_args(["--trust-proxy"]).trust_proxy is True
    for text, expected in (("true", True), ("1", True), ("false", False), ("0", False)):
        monkeypatch.setenv("TESSERA_TRUST_PROXY", text)
        assert _gateway_args([]).trust_proxy is expected
    monkeypatch.setenv("TESSERA_TRUST_PROXY", "maybe")
    with pytest.raises(SystemExit):
        _gateway_args([])
