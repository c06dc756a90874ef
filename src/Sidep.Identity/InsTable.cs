namespace Sidep.Identity;

/// <summary>
/// INS (as a non-zero number) → person id, in one open-addressing table of 16-byte slots (linear probing, at most
/// half full): a lookup touches one slot where a dictionary touches a bucket and an entry — at 10M persons, one cache
/// miss instead of two.
/// </summary>
internal sealed class InsTable
{
    private struct Slot
    {
        public long Key;
        public long Value;
    }

    private Slot[] _slots = new Slot[1024];
    private int _count;

    private static int Index(long key, int mask) => (int)((ulong)(key * unchecked((long)0x9E3779B97F4A7C15)) >> 20) & mask;

    public bool TryGetValue(long key, out long value)
    {
        Slot[] slots = _slots;
        int mask = slots.Length - 1;
        for (int i = Index(key, mask); ; i = (i + 1) & mask)
        {
            ref Slot slot = ref slots[i];
            if (slot.Key == key)
            {
                value = slot.Value;
                return true;
            }
            if (slot.Key == 0)
            {
                value = 0;
                return false;
            }
        }
    }

    public void Set(long key, long value)
    {
        if ((_count + 1) * 2 > _slots.Length)
        {
            Grow();
        }
        if (Place(_slots, key, value))
        {
            _count++;
        }
    }

    /// <summary>Returns true when the key is new.</summary>
    private static bool Place(Slot[] slots, long key, long value)
    {
        int mask = slots.Length - 1;
        for (int i = Index(key, mask); ; i = (i + 1) & mask)
        {
            ref Slot slot = ref slots[i];
            if (slot.Key == key)
            {
                slot.Value = value;
                return false;
            }
            if (slot.Key == 0)
            {
                (slot.Key, slot.Value) = (key, value);
                return true;
            }
        }
    }

    private void Grow()
    {
        var bigger = new Slot[_slots.Length * 2];
        foreach (Slot s in _slots)
        {
            if (s.Key != 0)
            {
                Place(bigger, s.Key, s.Value);
            }
        }
        _slots = bigger;
    }
}
