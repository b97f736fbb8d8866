"""The rule of a bank linked twice: which account is the same as which, which copy counts."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from balances.domain.duplicates import (
    KeyedAccount,
    account_key,
    assign_duplicates,
    assign_household_duplicates,
    same_accounts,
    shared_keys,
)

CHECKING = account_key(mask="0000", type_="depository", subtype="checking", name="Plaid Checking")
SAVING = account_key(mask="1111", type_="depository", subtype="savings", name="Plaid Saving")
CARD = account_key(mask="3333", type_="credit", subtype="credit card", name="Plaid Credit Card")


def test_key_ignores_case_and_blanks_of_the_name_but_not_the_mask():
    assert (
        account_key(mask="0000", type_="Depository", subtype="checking", name=" plaid CHECKING ")
        == CHECKING
    )
    assert (
        account_key(mask="0001", type_="depository", subtype="checking", name="Plaid Checking")
        != CHECKING
    )


def test_same_mask_of_another_type_or_name_is_another_account():
    other_type = account_key(mask="0000", type_="credit", subtype="credit card", name="Plaid")
    other_name = account_key(mask="0000", type_="depository", subtype="checking", name="Joint")
    assert len({CHECKING, other_type, other_name}) == 3


def test_a_subset_relinked_duplicates_the_older_connections_accounts():
    accounts = [
        KeyedAccount("a1", "old", CHECKING),
        KeyedAccount("a2", "old", SAVING),
        KeyedAccount("a3", "old", CARD),
        KeyedAccount("b1", "new", CARD),
        KeyedAccount("b2", "new", CHECKING),
    ]
    assert assign_duplicates(accounts, item_order=["old", "new"]) == {"b1": "a3", "b2": "a1"}
    # The older connection's copy counts, whatever order the accounts come in.
    assert assign_duplicates(reversed(accounts), item_order=["old", "new"]) == {
        "b1": "a3",
        "b2": "a1",
    }
    # Keeping the newer one first flips which copy counts.
    assert assign_duplicates(accounts, item_order=["new", "old"]) == {"a3": "b1", "a1": "b2"}


def test_two_identical_accounts_of_one_connection_pair_one_to_one():
    accounts = [
        KeyedAccount("a1", "old", CHECKING),
        KeyedAccount("a2", "old", CHECKING),
        KeyedAccount("b1", "new", CHECKING),
    ]
    # One copy only: the second checking account of the old connection is its own account.
    assert assign_duplicates(accounts, item_order=["old", "new"]) == {"b1": "a1"}
    # Within one connection, identical accounts never duplicate each other.
    assert assign_duplicates(accounts[:2], item_order=["old"]) == {}


def test_a_third_connection_points_at_the_counted_copy():
    accounts = [
        KeyedAccount("a", 1, CHECKING),
        KeyedAccount("b", 2, CHECKING),
        KeyedAccount("c", 3, CHECKING),
    ]
    assert assign_duplicates(accounts, item_order=[1, 2, 3]) == {"b": "a", "c": "a"}


def test_same_accounts_is_a_multiset_equality_never_of_empty_sets():
    assert same_accounts([CHECKING, SAVING], [SAVING, CHECKING])
    assert not same_accounts([CHECKING, SAVING], [CHECKING])
    assert not same_accounts([CHECKING, CHECKING], [CHECKING])
    assert not same_accounts([], [])
    assert shared_keys([CHECKING, SAVING], [CHECKING, CARD]) == 1
    assert shared_keys([CHECKING], [CHECKING, CHECKING]) == 1


keys = st.sampled_from([CHECKING, SAVING, CARD])
connections = st.lists(st.lists(keys, max_size=6), min_size=1, max_size=4)


def _accounts(conns):
    return [
        KeyedAccount(f"{i}-{j}", i, key)
        for i, conn in enumerate(conns)
        for j, key in enumerate(conn)
    ]


@given(connections)
def test_each_account_counts_exactly_once(conns):
    """Whatever the connections, the counted accounts hold each key as often as the
    connection holding it most often: no account counts twice, none is lost."""
    accounts = _accounts(conns)
    duplicate_of = assign_duplicates(accounts, item_order=list(range(len(conns))))
    by_id = {a.id: a for a in accounts}
    counted = Counter(a.key for a in accounts if a.id not in duplicate_of)
    wanted = Counter()
    for conn in conns:
        wanted |= Counter(conn)
    assert counted == wanted
    for copy, original in duplicate_of.items():
        # A copy points at a counted account with its key, of an earlier connection.
        assert original not in duplicate_of
        assert by_id[original].key == by_id[copy].key
        assert by_id[original].item_id < by_id[copy].item_id
    # One to one within each pair of connections.
    pairs = Counter((by_id[c].item_id, o) for c, o in duplicate_of.items())
    assert all(n == 1 for n in pairs.values())


@given(connections, st.randoms(use_true_random=False))
def test_the_answer_does_not_depend_on_the_order_accounts_come_in(conns, rnd):
    accounts = _accounts(conns)
    shuffled = list(accounts)
    rnd.shuffle(shuffled)
    order = list(range(len(conns)))
    assert assign_duplicates(shuffled, item_order=order) == assign_duplicates(
        accounts, item_order=order
    )


@given(st.lists(keys, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_a_connection_linked_again_whole_is_the_same_and_all_copies(conn, rnd):
    again = list(conn)
    rnd.shuffle(again)
    assert same_accounts(conn, again)
    accounts = _accounts([conn, again])
    duplicate_of = assign_duplicates(accounts, item_order=[0, 1])
    assert {a.id for a in accounts if a.item_id == 1} == set(duplicate_of)


# --- Across the members of a household ----------------------------------------------------

# Connections of several people: (institution, keys).
institutions = st.sampled_from(["ins_3", "ins_4", ""])
people_connections = st.lists(
    st.tuples(institutions, st.lists(keys, max_size=5)), min_size=1, max_size=5
)


def test_a_joint_account_two_members_linked_counts_under_the_older_connection():
    alice_chase = [("ins_3", KeyedAccount("a-joint", "alice-chase", CHECKING))]
    bob_chase = [
        ("ins_3", KeyedAccount("b-joint", "bob-chase", CHECKING)),
        ("ins_3", KeyedAccount("b-card", "bob-chase", CARD)),
    ]
    both = alice_chase + bob_chase
    assert assign_household_duplicates(both, item_order=["bob-chase", "alice-chase"]) == {
        "a-joint": "b-joint"
    }
    assert assign_household_duplicates(both, item_order=["alice-chase", "bob-chase"]) == {
        "b-joint": "a-joint"
    }


def test_the_same_looking_account_at_another_bank_or_an_unknown_one_is_another_account():
    accounts = [
        ("ins_3", KeyedAccount("chase", "i1", CHECKING)),
        ("ins_4", KeyedAccount("wells", "i2", CHECKING)),
        ("", KeyedAccount("unknown-1", "i3", CHECKING)),
        ("", KeyedAccount("unknown-2", "i4", CHECKING)),
    ]
    assert assign_household_duplicates(accounts, item_order=["i1", "i2", "i3", "i4"]) == {}


@given(people_connections)
def test_each_account_of_a_household_counts_once_per_bank(conns):
    """At each known institution, the counted accounts hold each key as often as the
    connection holding it most often; a copy points at a counted account of an earlier
    connection at the same institution; accounts at an unknown institution all count."""
    accounts = [
        (institution, KeyedAccount(f"{i}-{j}", i, key))
        for i, (institution, conn) in enumerate(conns)
        for j, key in enumerate(conn)
    ]
    duplicate_of = assign_household_duplicates(accounts, item_order=list(range(len(conns))))
    institution_of = {a.id: inst for inst, a in accounts}
    by_id = {a.id: a for _inst, a in accounts}
    for institution in {inst for inst, _conn in conns}:
        counted = Counter(
            a.key for inst, a in accounts if inst == institution and a.id not in duplicate_of
        )
        wanted: Counter = Counter()
        for inst, conn in conns:
            if inst == institution:
                wanted = wanted | Counter(conn) if institution else wanted + Counter(conn)
        assert counted == wanted, institution
    for copy, original in duplicate_of.items():
        assert institution_of[copy] == institution_of[original] != ""
        assert by_id[original].key == by_id[copy].key
        assert by_id[original].item_id < by_id[copy].item_id
        assert original not in duplicate_of
