package capmoe.routing;

/**
 * Partial selection on distinct long keys: moves the n smallest of {@code a[0..size)} into
 * {@code a[0..n)} (in no particular order). Quickselect with a median-of-three pivot: linear on
 * average, where a full sort would be n log n; the capacity policies only need to know which
 * pairs fall below the cut.
 */
final class Select {
    private Select() { }

    static void smallestFirst(long[] a, int size, int n) {
        if (n <= 0 || n >= size) return;
        int lo = 0, hi = size - 1, target = n - 1; // put the n-th smallest at index n-1, smaller ones left of it
        while (hi > lo) {
            if (hi - lo < 16) {
                insertionSort(a, lo, hi);
                return;
            }
            int mid = (lo + hi) >>> 1;
            // median of three into a[hi] as the pivot
            if (a[mid] < a[lo]) swap(a, mid, lo);
            if (a[hi] < a[lo]) swap(a, hi, lo);
            if (a[mid] < a[hi]) swap(a, mid, hi);
            long pivot = a[hi];
            int store = lo;
            for (int i = lo; i < hi; i++) {
                if (a[i] < pivot) swap(a, i, store++);
            }
            swap(a, store, hi);
            if (store == target) return;
            if (store < target) lo = store + 1;
            else hi = store - 1;
        }
    }

    private static void insertionSort(long[] a, int lo, int hi) {
        for (int i = lo + 1; i <= hi; i++) {
            long x = a[i];
            int j = i - 1;
            while (j >= lo && a[j] > x) {
                a[j + 1] = a[j];
                j--;
            }
            a[j + 1] = x;
        }
    }

    private static void swap(long[] a, int i, int j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
