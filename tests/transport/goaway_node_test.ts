// The GOAWAY gate on the node:http2 stack (see _goaway_gate.ts); the native stack's is in
// goaway_test.ts.
import { goawayGate } from "./_goaway_gate.ts";

goawayGate("node");
