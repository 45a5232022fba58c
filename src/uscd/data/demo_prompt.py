def running_max(numbers: list[int]) -> list[int]:
    """Return a list where element i is the largest value among numbers[0..i].
    An empty input gives an empty list.
    >>> running_max([1, 3, 2, 5, 4])
    [1, 3, 3, 5, 5]
    >>> running_max([])
    []
    """
