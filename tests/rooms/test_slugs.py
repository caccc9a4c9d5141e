"""Click2Meet slugs: format, reserved words, normalisation and uniqueness."""

import pytest
from django.core.exceptions import ValidationError

from rooms import services
from rooms.models import Extension
from rooms.slugs import RESERVED_SLUGS, normalize_slug, validate_click2meet_slug
from tests.factories import make_extension, make_queue


def _codes(excinfo) -> set[str]:
    return {error.code for error in excinfo.value.error_list}


# --- Format ---------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["ab", "sales", "ada.lovelace", "team_7", "helpdesk-fr", "a" * 50, "42"])
def test_it_accepts_well_formed_slugs(slug):
    validate_click2meet_slug(slug)


@pytest.mark.parametrize(
    "slug",
    ["", "a", "a" * 51, "-sales", "sales-", ".hidden", "trailing.", "with space", "ça-va", "a/b", "a?b", "Sales", "UPPER"],
)
def test_it_refuses_malformed_slugs(slug):
    with pytest.raises(ValidationError) as excinfo:
        validate_click2meet_slug(slug)
    assert _codes(excinfo) == {"invalid_slug"}


@pytest.mark.parametrize("slug", ["admin", "static", "ws", "accounts", "client", "m", "r", "outbox", "health", "jsi18n", "i18n", "media"])
def test_it_refuses_reserved_slugs(slug):
    assert slug in RESERVED_SLUGS
    with pytest.raises(ValidationError) as excinfo:
        validate_click2meet_slug(slug)
    assert _codes(excinfo) & {"reserved_slug", "invalid_slug"}


def test_it_reserves_every_first_path_segment_of_the_product():
    from config.urls import urlpatterns

    segments = {str(p.pattern).split("/")[0] for p in urlpatterns} - {"", "<str:slug>"}
    assert segments <= RESERVED_SLUGS


def test_it_normalises_case_and_spaces():
    assert normalize_slug("  Sales-Team ") == "sales-team"
    assert normalize_slug(None) == ""


@pytest.mark.django_db
def test_it_cleans_a_slug_to_its_normal_form():
    assert services.clean_slug("  Ada.Lovelace ") == "ada.lovelace"


@pytest.mark.django_db
def test_it_refuses_a_reserved_slug_even_in_capitals():
    with pytest.raises(ValidationError) as excinfo:
        services.clean_slug(" ADMIN ")
    assert _codes(excinfo) == {"reserved_slug"}


# --- Uniqueness across extensions and queues -------------------------------------------


@pytest.mark.django_db
def test_it_refuses_a_slug_used_by_another_extension():
    make_extension(slug="ada")
    with pytest.raises(ValidationError) as excinfo:
        services.clean_slug("Ada")
    assert _codes(excinfo) == {"slug_taken"}


@pytest.mark.django_db
def test_it_refuses_for_a_queue_a_slug_used_by_an_extension():
    make_extension(slug="sales")
    queue = make_queue(slug="helpdesk")
    with pytest.raises(ValidationError) as excinfo:
        services.clean_slug("sales", instance=queue)
    assert _codes(excinfo) == {"slug_taken"}


@pytest.mark.django_db
def test_it_refuses_for_an_extension_a_slug_used_by_a_queue():
    make_queue(slug="helpdesk")
    extension = make_extension(slug="ada")
    with pytest.raises(ValidationError) as excinfo:
        services.clean_slug("helpdesk", instance=extension)
    assert _codes(excinfo) == {"slug_taken"}


@pytest.mark.django_db
def test_it_lets_an_object_keep_its_own_slug():
    extension = make_extension(slug="ada")
    queue = make_queue(slug="helpdesk")
    assert services.clean_slug("ada", instance=extension) == "ada"
    assert services.clean_slug("helpdesk", instance=queue) == "helpdesk"


@pytest.mark.django_db
def test_it_does_not_let_an_extension_take_a_queue_slug_of_the_same_pk():
    extension = make_extension(slug="ada")
    queue = make_queue(slug="helpdesk")
    # Primary keys of the two tables may coincide; exclusion must be per table.
    queue.pk = extension.pk
    with pytest.raises(ValidationError):
        services.clean_slug("ada", instance=queue)


# --- Changing a slug ---------------------------------------------------------------------


@pytest.mark.django_db
def test_it_changes_an_extension_slug_and_keeps_it_valid():
    extension = make_extension(slug="ada")
    extension.slug = " Ada-Lovelace "
    services.save_extension(extension)
    extension.refresh_from_db()
    assert extension.slug == "ada-lovelace"
    assert extension.click2meet_url.endswith("/ada-lovelace/")
    assert services.find_click2meet_target("ADA-LOVELACE") == extension
    assert services.find_click2meet_target("ada") is None
    # Saving again with the same slug is not a clash with itself.
    services.save_extension(extension)
    assert Extension.objects.get(pk=extension.pk).slug == "ada-lovelace"


@pytest.mark.django_db
def test_it_refuses_changing_a_slug_to_a_taken_or_reserved_one_and_keeps_the_old():
    make_queue(slug="helpdesk")
    extension = make_extension(slug="ada")
    for bad in ("helpdesk", "admin", "x"):
        extension.slug = bad
        with pytest.raises(ValidationError):
            services.save_extension(extension)
        assert Extension.objects.get(pk=extension.pk).slug == "ada"


@pytest.mark.django_db
def test_it_saves_a_queue_with_a_normalised_unique_slug():
    make_extension(slug="ada")
    queue = make_queue(slug="helpdesk")
    queue.slug = "Helpdesk-FR"
    services.save_queue(queue)
    queue.refresh_from_db()
    assert queue.slug == "helpdesk-fr"
    assert services.find_click2meet_target("helpdesk-fr") == queue
