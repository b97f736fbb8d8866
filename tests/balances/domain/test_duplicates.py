"""The rule of a bank linked twice: which account is the same as which, which copy counts."""

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from balances.domain.duplicates import (
    KeyedAccount,
    account_key,
    assign_duplicates,
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
