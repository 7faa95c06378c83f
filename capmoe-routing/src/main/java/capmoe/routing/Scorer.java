package capmoe.routing;

/** How Token Drop ranks the tokens of an overloaded expert. Official names in parentheses. */
public enum Scorer {
    /** Gate probability, highest kept (the paper's recommended scorer). */
    SCORE("score"),
    /** Earliest tokens kept ("first"; Switch Transformer style). */
    ORDER("order"),
    /** Latest tokens kept ("last"). */
    REVERSE("reverse"),
    /** C uniformly random tokens kept (seeded). */
    RANDOM("random");

    private final String id;

    Scorer(String id) { this.id = id; }

    public String id() { return id; }
}
