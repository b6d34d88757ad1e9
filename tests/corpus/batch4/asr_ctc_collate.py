"""CTC speech recognition on LibriSpeech with a small conformer-free BiLSTM."""
import argparse

import torch
import torch.nn as nn
import torchaudio
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader

CHARS = " 'abcdefghijklmnopqrstuvwxyz"
CHAR2ID = {c: i + 1 for i, c in enumerate(CHARS)}  # 0 is the CTC blank


def encode(text):
    return torch.tensor([CHAR2ID[c] for c in text.lower() if c in CHAR2ID])


class BiLSTMCTC(nn.Module):
    def __init__(self, n_mels=80, hidden=320, layers=4):
        super().__init__()
        self.rnn = nn.LSTM(n_mels, hidden, layers, batch_first=True, bidirectional=True, dropout=0.2)
        self.out = nn.Linear(2 * hidden, len(CHARS) + 1)

    def forward(self, feats):
        h, _ = self.rnn(feats)
        return self.out(h).log_softmax(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default="data")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--workers", type=int, default=8)
    args = ap.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    mel = torchaudio.transforms.MelSpectrogram(16000, n_fft=400, hop_length=160, n_mels=80)
    train_set = torchaudio.datasets.LIBRISPEECH(args.root, url="train-clean-100", download=True)

    def collate(batch):
        feats = [mel(w).squeeze(0).transpose(0, 1).clamp(min=1e-10).log() for w, *_ in batch]
        targets = [encode(item[2]) for item in batch]
        return (pad_sequence(feats, batch_first=True), torch.tensor([f.size(0) for f in feats]),
                torch.cat(targets), torch.tensor([len(t) for t in targets]))

    loader = DataLoader(train_set, batch_size=16, shuffle=True, num_workers=args.workers, collate_fn=collate)
    model = BiLSTMCTC().to(device)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)

    for epoch in range(args.epochs):
        model.train()
        for step, (feats, feat_lens, targets, target_lens) in enumerate(loader):
            feats = feats.to(device)
            log_probs = model(feats).transpose(0, 1)  # (T, N, C) for CTCLoss
            loss = ctc(log_probs, targets, feat_lens, target_lens)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            if step % 200 == 0:
                print(f"epoch {epoch} step {step} ctc {loss.item():.3f}")
        torch.save(model.state_dict(), f"ctc_epoch{epoch}.pt")


if __name__ == "__main__":
    main()
