"""The catalog contract: one valid guide per catalog id, nothing more."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from bot.knowledge.store import DEFAULT_ROOT
from bot.tools import generate


@pytest.fixture()
def knowledge_copy(tmp_path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_ROOT, root)
    return root


def test_every_catalog_id_has_exactly_one_guide():
    knowledge = load_knowledge()
    catalog_ids = [entry["id"] for entry in knowledge.catalog]
    assert len(catalog_ids) == 84 == len(set(catalog_ids))
    assert list(knowledge.guides) == catalog_ids
    files = sorted(path.stem for path in (DEFAULT_ROOT / "guides").rglob("*.yml"))
    assert files == sorted(catalog_ids)


def test_guides_keep_catalog_titles():
    knowledge = load_knowledge()
    for entry in knowledge.catalog:
        guide = knowledge.guide(entry["id"])
        assert (guide.title, guide.category, guide["department"]) == (
            entry["title"],
            entry["category"],
            entry["department"],
        )


def test_project_catalog_is_the_shared_contract():
    shared = DEFAULT_ROOT.parents[1] / "shared" / "catalog.yml"
    if not shared.exists():
        pytest.skip("../shared is not beside this clone")
    assert (
        yaml.safe_load(shared.read_text())["items"]
        == yaml.safe_load((DEFAULT_ROOT / "catalog.yml").read_text())["items"]
    )


def test_missing_guide_is_named(knowledge_copy):
    (knowledge_copy / "guides" / "exit_entry" / "passport-renewal.yml").unlink()
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert "no guide for catalog id passport-renewal" in str(error.value)


def test_extra_guide_is_named(knowledge_copy):
    source = knowledge_copy / "guides" / "exit_entry" / "passport-renewal.yml"
    data = yaml.safe_load(source.read_text())
    data["id"] = "passport-express"
    (knowledge_copy / "guides" / "exit_entry" / "passport-express.yml").write_text(
        yaml.safe_dump(data, allow_unicode=True)
    )
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert "passport-express.yml: id: 'passport-express' is not an id of catalog.yml" in str(error.value)


def test_duplicate_guide_is_named(knowledge_copy):
    source = knowledge_copy / "guides" / "exit_entry" / "passport-renewal.yml"
    (knowledge_copy / "guides" / "household").mkdir(exist_ok=True)
    copy = knowledge_copy / "guides" / "household" / "passport-renewal.yml"
    copy.write_text(source.read_text())
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert "household/passport-renewal.yml: category: file must be under guides/exit_entry/" in str(error.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("fees"), "fees: must be a non-empty list"),
        (lambda d: d["materials"][0].update(form="扫描件"), "materials[0].form: must be one of"),
        (lambda d: d["where"].update(desks=["nowhere"]), "where.desks: unknown id 'nowhere'"),
        (lambda d: d["remote"].update(possible="maybe"), "remote.possible: must be one of"),
        (lambda d: d.update(synonyms=["护照"]), "synonyms: must be a list of at least 6 strings"),
        (lambda d: d.update(title="护照"), "title: must be '普通护照换发' as in catalog.yml"),
        (lambda d: d["time_limit"].pop("legal"), "time_limit.legal: must be a non-empty string"),
    ],
)
def test_malformed_guide_names_file_and_field(knowledge_copy, change, expected):
    path = knowledge_copy / "guides" / "exit_entry" / "passport-renewal.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert f"passport-renewal.yml: {expected}" in str(error.value)


def test_broken_yaml_is_named(knowledge_copy):
    path = knowledge_copy / "guides" / "exit_entry" / "passport-renewal.yml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert "passport-renewal.yml: not valid YAML" in str(error.value)


def test_sites_directory_has_eight_overseas_sites_in_six_cities_and_the_desks():
    sites = load_knowledge().sites
    overseas = sites["overseas_sites"]
    assert len(overseas) == 8
    assert len({site["city"] for site in overseas}) == 6
    assert {site["country"] for site in overseas} == {"法国", "意大利", "南非", "阿联酋"}
    areas = {desk["area"] for desk in sites["domestic_desks"]}
    assert {"温州市", "文成县", "瑞安市", "鹿城区", "瓯海区", "永嘉县", "乐清市"} <= areas
    assert all(entry["hours"] for entry in overseas + sites["domestic_desks"])


def test_demo_case_sites_and_items_exist():
    knowledge = load_knowledge()
    names = {entry["name"] for entry in knowledge.sites["overseas_sites"] + knowledge.sites["domestic_desks"]}
    cases = yaml.safe_load((DEFAULT_ROOT.parent / "bot" / "data" / "seed" / "demo_cases.yml").read_text())["cases"]
    for case in cases:
        assert case["site"] in names
        assert knowledge.guide(case["item"]) is not None


def test_generated_files_are_up_to_date():
    assert generate.main(["--check"]) == 0


def test_a_topic_with_an_unknown_item_or_language_is_named(knowledge_copy):
    path = knowledge_copy / "topics.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["topics"]["passport"]["items"].append("passport-for-pets")
    data["topics"]["passport"]["words"]["es"] = ["pasaporte"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        KnowledgeBase(knowledge_copy)
    assert "topics.passport.items: unknown item passport-for-pets" in str(error.value)
    assert "topics.passport.words.es: not a language of languages.yml" in str(error.value)
