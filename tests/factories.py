"""Factories shared by every app's tests."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from communities.models import Community, Membership, Role, Visibility
from communities.services import IssuedToken, create_api_token

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"viewer{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    slug = factory.Sequence(lambda n: f"community-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    visibility = Visibility.PUBLIC


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    community = factory.SubFactory(CommunityFactory)
    role = Role.MEMBER


def issue_token(community: Community, *scopes: str, name: str = "bot") -> IssuedToken:
    return create_api_token(community=community, name=name, scopes=scopes or ("read",))


# --- progression ---------------------------------------------------------------------------


class NodeFactory(factory.django.DjangoModelFactory):
    """A tier-0 small node with one level; pass `cost_override` for a round cost in tests."""

    class Meta:
        model = "progression.Node"

    community = factory.SubFactory(CommunityFactory)
    key = factory.Sequence(lambda n: f"node_{n}")
    name = factory.LazyAttribute(lambda o: o.key.replace("_", " ").title())
    tier = 0
    size = "small"
    max_level = 1


class PrerequisiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "progression.Prerequisite"

    node = factory.SubFactory(NodeFactory)
    required = factory.SubFactory(NodeFactory, community=factory.SelfAttribute("..node.community"))
    min_level = 1


class ProgressionSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "progression.ProgressionSettings"
        django_get_or_create = ("community",)

    community = factory.SubFactory(CommunityFactory)


class EngagementWeightFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "progression.EngagementWeight"
        django_get_or_create = ("community", "metric")

    community = factory.SubFactory(CommunityFactory)
    metric = "message"
    weight = "1"
