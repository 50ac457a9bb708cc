"""The harmonised crime groups: every police.uk label maps onto one stable group."""

from crime_mapping_plugin.core import crime_types


def test_labels_renamed_in_2013_keep_their_group():
    assert crime_types.group_of("Violent crime") == crime_types.group_of("Violence and sexual offences")
    assert crime_types.group_of("Public disorder and weapons") == crime_types.group_of("Public order")
    assert crime_types.group_of("Public disorder and weapons") == crime_types.group_of("Possession of weapons")
    assert crime_types.group_of("Other theft") == crime_types.group_of("Bicycle theft")
    assert crime_types.group_of("Other theft") == crime_types.group_of("Theft from the person")


def test_the_14_current_types_are_all_mapped_and_distinct_from_unmapped():
    assert len(crime_types.CURRENT_TYPES) == 14
    for label in crime_types.CURRENT_TYPES:
        assert crime_types.group_of(label) in crime_types.GROUPS


def test_unknown_labels_are_flagged_not_guessed():
    assert crime_types.group_of("Hate crime") == crime_types.UNMAPPED
    assert crime_types.canonical_label("hate crime") is None
    assert crime_types.canonical_label("  burglary ") == "Burglary"
