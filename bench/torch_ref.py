"""Usage: /usr/bin/python3 torch_ref.py {wine|mlp|cnn|matmul|loader|elementwise} [THREADS]

bench/torch_ref.py is a copy of ../shared/reference/torch_ref.py (keep the two
in step) with one addition: the `elementwise` workload (run_elementwise, the
twin of bench/bench_elementwise.c: 16M-element float32 add, mul and relu,
each forward + sum + backward, 1 warm-up and 5 timed rounds; gbps uses the
same bytes-moved count as bench_elementwise.c). Nothing else differs.

Needs Debian packages python3-torch and dataset-fashion-mnist.

Reference workloads in PyTorch (Debian python3-torch), run with 2 threads.
Each workload prints one line: name, seconds, final metric.  Used as the
side-by-side anchor for the C framework's benchmarks (same models, same data,
same batch sizes, same optimizers)."""
import gzip, sys, time, struct, csv
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
torch.manual_seed(0)
FM = "/usr/share/datasets/fashion-mnist/"
HERE = __import__("os").path.dirname(__import__("os").path.abspath(__file__))

def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4]); nd = magic & 0xff
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)

def fmnist():
    xtr = torch.from_numpy(idx(FM + "train-images-idx3-ubyte.gz").astype(np.float32) / 255.)
    ytr = torch.from_numpy(idx(FM + "train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(idx(FM + "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.)
    yte = torch.from_numpy(idx(FM + "t10k-labels-idx1-ubyte.gz").astype(np.int64))
    return xtr, ytr, xte, yte

def wine():
    rows = list(csv.reader(open(HERE + "/../datasets/wine.csv")))[1:]
    x = torch.tensor([[float(v) for v in r[:13]] for r in rows])
    y = torch.tensor([int(r[13].split("_")[1]) for r in rows])
    x = (x - x.mean(0)) / x.std(0)
    return x, y

def run_wine():
    x, y = wine()
    net = nn.Sequential(nn.Linear(13, 32), nn.ReLU(), nn.Linear(32, 3))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    t = time.perf_counter()
    for _ in range(2000):
        opt.zero_grad(); loss = F.cross_entropy(net(x), y); loss.backward(); opt.step()
    dt = time.perf_counter() - t
    acc = (net(x).argmax(1) == y).float().mean().item()
    return dt, f"loss={loss.item():.4f} train_acc={acc:.3f}"

def train_epoch(net, opt, x, y, bs, shape):
    n = x.shape[0]; perm = torch.randperm(n)
    for i in range(0, n - bs + 1, bs):
        idx_ = perm[i:i + bs]
        xb = x[idx_].view(shape); yb = y[idx_]
        opt.zero_grad(); loss = F.cross_entropy(net(xb), yb); loss.backward(); opt.step()
    return loss

def evaluate(net, x, y, shape):
    with torch.no_grad():
        return (net(x.view(shape)).argmax(1) == y).float().mean().item()

def run_mlp():
    xtr, ytr, xte, yte = fmnist()
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t = time.perf_counter(); train_epoch(net, opt, xtr, ytr, 64, (-1, 784)); dt = time.perf_counter() - t
    return dt, f"test_acc={evaluate(net, xte, yte, (-1, 784)):.4f}"

def run_cnn():
    xtr, ytr, xte, yte = fmnist()
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t = time.perf_counter(); train_epoch(net, opt, xtr, ytr, 64, (-1, 1, 28, 28)); dt = time.perf_counter() - t
    return dt, f"test_acc={evaluate(net, xte, yte, (-1, 1, 28, 28)):.4f}"

def run_loader():
    xtr, ytr, _, _ = fmnist()
    ds = torch.utils.data.TensorDataset(xtr.view(-1, 784), ytr)
    dl = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=0)
    t = time.perf_counter(); n = 0
    for xb, yb in dl: n += 1
    dt = time.perf_counter() - t
    return dt, f"batches={n} batches_per_s={n / dt:.0f}"

def run_matmul():
    a = torch.randn(1024, 1024, requires_grad=True); b = torch.randn(1024, 1024, requires_grad=True)
    t = time.perf_counter(); n = 20
    for _ in range(n):
        c = a @ b; c.sum().backward()
    dt = time.perf_counter() - t
    return dt, f"gflops={3 * 2 * 1024**3 * n / dt / 1e9:.1f}"

def run_elementwise():
    n, rounds = 16 * 1024 * 1024, 5
    a = torch.randn(n, requires_grad=True); b = torch.randn(n, requires_grad=True)
    ops = (lambda: a + b, lambda: a * b, lambda: torch.relu(a))
    def one_round():
        for op in ops:
            a.grad = None; b.grad = None
            op().sum().backward()
    one_round()  # warm-up
    t = time.perf_counter()
    for _ in range(rounds): one_round()
    dt = time.perf_counter() - t
    moved = (6 + 8 + 5) * 4 * n * rounds  # bytes per round: add 6E, mul 8E, relu 5E (E = 4n)
    return dt, f"gbps={moved / dt / 1e9:.2f}"

if __name__ == "__main__":
    which = sys.argv[1]
    dt, metric = {"wine": run_wine, "mlp": run_mlp, "cnn": run_cnn, "matmul": run_matmul, "loader": run_loader,
             "elementwise": run_elementwise}[which]()
    print(f"{which} seconds={dt:.3f} {metric}", flush=True)
